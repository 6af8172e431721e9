// GraphQL over WebSocket conformance: the reference client of graphql-transport-ws (the
// `graphql-ws` package, whose PROTOCOL.md defines the protocol) against the real convio binary
// on port 0, with a fresh SQLite file. It subscribes to the live feed, runs a query and a
// mutation, and sees how convio refuses what it must: an operation that fails validation (an
// `error` message with `extensions.code`) and credentials that are not valid (close 4403).
//
// Like graphql-http.test.mjs it builds nothing: test.sh runs `cargo build --locked` first.
// The binary is $CARGO_TARGET_DIR/debug/convio (target/ by default); CONVIO_BIN overrides it.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const ADMIN_KEY = "convio_admin_conformance_0123456789abcdef";
const JWT_SECRET = "conformance-secret-conformance-secret";
const WORKSPACE = "conformance_ws";
const CONTACT = 1001;

const FEED = `subscription Feed($types: [String!]) {
  conversionFeed(conversionTypes: $types) {
    conversion { id contactId conversionType conversionValue }
    contact { id conversionCount }
  }
}`;
const LOG_SALE = `mutation Sale($input: LogConversionInput!) {
  logConversion(input: $input) { id conversionType conversionValue }
}`;
const LIST = "query List { conversions(first: 50) { nodes { id conversionType } } }";

let server;
/** The workspace's credentials, as HTTP headers and as the `connection_init` payload. */
let credentials;

before(async () => {
  server = await startServer();
  credentials = await workspaceCredentials(server.base);
  await rest("POST", "/contacts", { id: CONTACT, name: "Conformance contact" });
});

after(async () => {
  await server?.stop();
});

/** A reference client on convio's `/graphql/ws`, authenticated with `params`. */
function client(params = credentials) {
  return createClient({
    url: `${server.base.replace(/^http/, "ws")}/graphql/ws`,
    webSocketImpl: WebSocket,
    connectionParams: params,
    lazy: true,
    retryAttempts: 0,
  });
}

/** Runs a single-result operation through `c`: its one result, or the error the client reports. */
async function once(c, payload) {
  const results = [];
  await new Promise((resolve, reject) => {
    c.subscribe(payload, { next: (r) => results.push(r), error: reject, complete: resolve });
  });
  assert.equal(results.length, 1, `one result, got ${JSON.stringify(results)}`);
  return results[0];
}

/** The error `c` reports for `payload` (an operation that must fail). */
async function refusal(c, payload) {
  return new Promise((resolve, reject) => {
    c.subscribe(payload, {
      next: (r) => reject(new Error(`expected a refusal, got ${JSON.stringify(r)}`)),
      error: resolve,
      complete: () => reject(new Error("expected a refusal, got complete")),
    });
  });
}

test("subscribes to the live feed and receives a conversion logged over REST", async () => {
  const c = client();
  try {
    const before = await metric("convio_feed_subscribers");
    const events = c.iterate({ query: FEED, variables: { types: ["sale"] } });
    const first = events.next();
    await waitFor(async () => (await metric("convio_feed_subscribers")) > before, "the subscription");
    const logged = await rest("POST", "/conversions/log", {
      contact_id: CONTACT,
      converted_by: "graphql-ws",
      conversion_type: "sale",
      conversion_value: 250.5,
    });

    const { value, done } = await first;

    assert.equal(done, false);
    assert.equal(value.errors, undefined, JSON.stringify(value));
    const event = value.data.conversionFeed;
    assert.equal(event.conversion.id, logged.id);
    assert.equal(event.conversion.contactId, String(CONTACT));
    assert.equal(event.conversion.conversionValue, "250.50");
    // Leaving the loop sends `complete`: the server stops the subscription.
    await events.return();
    await waitFor(async () => (await metric("convio_feed_subscribers")) === before, "the unsubscription");
  } finally {
    await c.dispose();
  }
});

test("runs a mutation and a query", async () => {
  const c = client();
  try {
    const sale = await once(c, {
      query: LOG_SALE,
      operationName: "Sale",
      variables: {
        input: { contactId: String(CONTACT), convertedBy: "graphql-ws", conversionType: "sale", conversionValue: "99.90" },
      },
    });
    assert.equal(sale.errors, undefined, JSON.stringify(sale));
    assert.equal(sale.data.logConversion.conversionValue, "99.90");

    const list = await once(c, { query: LIST });

    assert.equal(list.errors, undefined, JSON.stringify(list));
    const ids = list.data.conversions.nodes.map((n) => n.id);
    assert.ok(ids.includes(sale.data.logConversion.id), JSON.stringify(ids));
  } finally {
    await c.dispose();
  }
});

test("an operation that fails validation is refused with an error message carrying a code", async () => {
  const c = client();
  try {
    const errors = await refusal(c, { query: "{ noSuchField }" });

    assert.ok(Array.isArray(errors), `GraphQL errors, got ${errors}`);
    assert.equal(errors[0].extensions?.code, "BAD_USER_INPUT", JSON.stringify(errors));
    // The connection carries on.
    const again = await once(c, { query: "{ __typename }" });
    assert.deepEqual(again.data, { __typename: "Query" });
  } finally {
    await c.dispose();
  }
});

test("credentials that are not valid close the connection with 4403", async () => {
  const c = client({ "X-Workspace-ID": WORKSPACE, "X-API-Key": "not-the-key-not-the-key" });
  try {
    const closed = await refusal(c, { query: "{ __typename }" });

    assert.equal(closed.code, 4403, `a close event, got ${closed}`);
    assert.ok(closed.reason.startsWith("Forbidden"), closed.reason);
  } finally {
    await c.dispose();
  }
});

/** A REST call as the workspace; the JSON answer. */
async function rest(method, route, body) {
  const response = await fetch(`${server.base}${route}`, {
    method,
    headers: { ...credentials, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const json = await response.json();
  assert.ok(response.ok, `${method} ${route}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

/** A counter from `GET /metrics`. */
async function metric(name) {
  const text = await (await fetch(`${server.base}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  assert.ok(line, `no ${name} in /metrics`);
  return Number(line.split(" ")[1]);
}

/** Polls `ready` (at most 5 s). */
async function waitFor(ready, what) {
  const deadline = Date.now() + 5_000;
  while (!(await ready())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Registers the workspace with the admin key; its `X-Workspace-ID` and `X-API-Key`. */
async function workspaceCredentials(base) {
  const response = await fetch(`${base}/workspaces/register`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({
      workspace_id: WORKSPACE,
      workspace_name: "graphql-ws conformance",
      permissions: ["read", "update", "convert"],
    }),
  });
  const body = await response.json();
  assert.equal(response.status, 201, JSON.stringify(body));
  return { "X-Workspace-ID": WORKSPACE, "X-API-Key": body.api_key };
}

/** convio on 127.0.0.1:0 with a fresh SQLite file; the port is read from its log. */
async function startServer() {
  const targetDir = path.resolve(REPO_ROOT, process.env.CARGO_TARGET_DIR || "target");
  const bin = process.env.CONVIO_BIN || path.join(targetDir, "debug", "convio");
  const dir = await mkdtemp(path.join(tmpdir(), "convio-graphql-ws-"));
  const child = spawn(
    bin,
    ["--bind", "127.0.0.1:0", "--database-url", `sqlite://${path.join(dir, "convio.db")}?mode=rwc`],
    {
      env: {
        ...process.env,
        CONVIO_ADMIN_KEY: ADMIN_KEY,
        CONVIO_JWT_SECRET: JWT_SECRET,
        NO_COLOR: "1",
        RUST_LOG: process.env.RUST_LOG || "convio=info,tower_http=warn",
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  // Never leave a server behind, whatever ends this process.
  process.once("exit", () => child.kill("SIGKILL"));
  let output = "";
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal)));
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`convio did not report its port in 30 s:\n${output}`)), 30_000);
    const onData = (chunk) => {
      output += chunk.toString();
      // The start-up line: `GraphQL      http://127.0.0.1:PORT/graphql`.
      const m = output.match(/http:\/\/127\.0\.0\.1:(\d+)\/graphql/);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${bin}: ${e.message}`));
    });
    exited.then((how) => {
      clearTimeout(timer);
      reject(new Error(`convio exited (${how}) before serving:\n${output}`));
    });
  });
  return {
    base: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(killer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
