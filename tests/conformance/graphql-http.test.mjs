// GraphQL over HTTP conformance: the `graphql-http` package's audit suite (the one the
// GraphQL-over-HTTP spec's authors maintain) against the real convio binary on port 0, with a
// fresh SQLite file and a workspace key. Every audit is one test and must pass: MUST, SHOULD and
// MAY alike, since convio answers every one of them as docs/api.md says.
//
// It builds nothing: test.sh runs `cargo build --locked` first. The binary is
// $CARGO_TARGET_DIR/debug/convio (target/ by default); CONVIO_BIN overrides it (e.g. a release
// build).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { serverAudits } from "graphql-http";

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const ADMIN_KEY = "convio_admin_conformance_0123456789abcdef";
const JWT_SECRET = "conformance-secret-conformance-secret";
const WORKSPACE = "conformance_audit";

let server;
let credentials;
/** How each audit came out: ok, or the level of the rule it broke (error, warn, notice). */
const outcomes = { ok: 0, error: 0, warn: 0, notice: 0 };

before(async () => {
  server = await startServer();
  credentials = await workspaceCredentials(server.base);
});

after(async () => {
  await server?.stop();
  const { ok, error, warn, notice } = outcomes;
  console.log(`graphql-http audit: ${ok} ok, ${error} error, ${warn} warn, ${notice} notice`);
});

/** `fetch` as a workspace would call convio: every request carries its key. */
function fetchAsWorkspace(url, init = {}) {
  const headers = new Headers(init.headers);
  for (const [name, value] of Object.entries(credentials)) headers.set(name, value);
  return fetch(url, { ...init, headers });
}

const audits = serverAudits({ url: () => `${server.base}/graphql`, fetchFn: fetchAsWorkspace });

for (const audit of audits) {
  test(`${audit.id} ${audit.name}`, async () => {
    const result = await audit.fn();
    outcomes[result.status] += 1;
    if (result.status === "ok") return;
    const response = result.response;
    const body = response ? await response.text().catch(() => "") : "";
    assert.fail(
      `${result.status}: ${result.reason}` +
        (response ? ` (HTTP ${response.status}, ${response.headers.get("content-type")}): ${body}` : ""),
    );
  });
}

/** Registers a workspace with the admin key; its `X-Workspace-ID` and `X-API-Key`. */
async function workspaceCredentials(base) {
  const response = await fetch(`${base}/workspaces/register`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ workspace_id: WORKSPACE, workspace_name: "Conformance audit", permissions: ["read"] }),
  });
  const body = await response.json();
  assert.equal(response.status, 201, JSON.stringify(body));
  return { "x-workspace-id": WORKSPACE, "x-api-key": body.api_key };
}

/** convio on 127.0.0.1:0 with a fresh SQLite file; the port is read from its log. */
async function startServer() {
  const targetDir = path.resolve(REPO_ROOT, process.env.CARGO_TARGET_DIR || "target");
  const bin = process.env.CONVIO_BIN || path.join(targetDir, "debug", "convio");
  const dir = await mkdtemp(path.join(tmpdir(), "convio-conformance-"));
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
