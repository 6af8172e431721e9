// The browser suite's harness: the real convio binary on port 0 with a fresh SQLite file,
// a REST/GraphQL client for seeding and for the expected answers, and Debian's Chromium
// driven by playwright-core with a guard that fails any request to a host other than 127.0.0.1.
//
// Plain .mjs run by `node --test` (Node 20's built-in runner): no transpile step and no extra
// dependency (tsx would add a loader between the runner and the file's stack traces), and the
// suite needs no types beyond what JSDoc gives an editor.
//
// It builds nothing: test.sh runs `cargo build --locked` first. The binary is
// $CARGO_TARGET_DIR/debug/convio (target/ by default); CONVIO_BIN and CHROMIUM override the
// binary and the browser.

import { spawn } from "node:child_process";
import { mkdtemp, rm, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const TESTS_DIR = path.dirname(fileURLToPath(import.meta.url));
export const DASHBOARD_DIR = path.dirname(TESTS_DIR);
export const REPO_ROOT = path.dirname(DASHBOARD_DIR);
export const SCREENSHOTS = path.join(TESTS_DIR, "screenshots");

export const ADMIN_KEY = "convio_admin_browser_suite_0123456789abcdef";
const JWT_SECRET = "browser-suite-secret-browser-suite-secret";
export const ZONES = ["UTC", "America/New_York"];

/** Chromium's flags here: no sandbox (root), and nothing that phones home on a closed network. */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
  "--disable-sync",
];

const live = new Set();
process.on("exit", () => {
  // Last resort if a test file dies before its `after` hook: never leave a server behind.
  for (const child of live) child.kill("SIGKILL");
});
for (const signal of ["SIGINT", "SIGTERM"]) {
  // `timeout` or Ctrl-C: the exit handler above runs only if the process exits.
  process.once(signal, () => process.exit(128 + (signal === "SIGINT" ? 2 : 15)));
}

/**
 * Starts target/debug/convio on 127.0.0.1:0 with a fresh SQLite database in a temporary
 * directory and reads the bound port from its log.
 * @param {string[]} [extraArgs] more flags
 * @param {{zones?: string[]}} [options] `--analytics-time-zones` (default UTC,America/New_York)
 * @returns {Promise<{base: string, port: number, log: () => string, stop: () => Promise<void>}>}
 */
export async function startServer(extraArgs = [], { zones = ZONES } = {}) {
  const targetDir = path.resolve(REPO_ROOT, process.env.CARGO_TARGET_DIR || "target");
  const bin = process.env.CONVIO_BIN || path.join(targetDir, "debug", "convio");
  const dir = await mkdtemp(path.join(tmpdir(), "convio-browser-"));
  const args = [
    "--bind", "127.0.0.1:0",
    "--database-url", `sqlite://${path.join(dir, "convio.db")}?mode=rwc`,
    "--analytics-time-zones", zones.join(","),
    ...extraArgs,
  ];
  const child = spawn(bin, args, {
    env: {
      ...process.env,
      CONVIO_ADMIN_KEY: ADMIN_KEY,
      CONVIO_JWT_SECRET: JWT_SECRET,
      NO_COLOR: "1",
      RUST_LOG: process.env.RUST_LOG || "convio=info,tower_http=warn",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  live.add(child);
  let output = "";
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`convio did not report its port in 30 s:\n${output}`)), 30_000);
    const onData = (chunk) => {
      output += chunk.toString();
      // tracing's line: `INFO convio: GraphQL      http://127.0.0.1:PORT/graphql` (ANSI stripped).
      const m = output.replace(/\x1b\[[0-9;]*m/g, "").match(/http:\/\/127\.0\.0\.1:(\d+)\/graphql/);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("error", (e) => { clearTimeout(timer); reject(new Error(`cannot start ${bin}: ${e.message}`)); });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`convio exited (${code ?? signal}) before serving:\n${output}`));
    });
  });
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    log: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(killer);
      }
      live.delete(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A client of the server's REST and GraphQL doors, as one caller.
 * `creds` is `{ bearer }` (admin key, workspace key or JWT) or `{ workspaceId, apiKey }`.
 */
export class Api {
  constructor(base, creds = { bearer: ADMIN_KEY }) {
    this.base = base;
    this.creds = creds;
  }

  as(creds) {
    return new Api(this.base, creds);
  }

  headers() {
    const h = {};
    if (this.creds.bearer) h.authorization = `Bearer ${this.creds.bearer}`;
    if (this.creds.workspaceId) {
      h["x-workspace-id"] = this.creds.workspaceId;
      h["x-api-key"] = this.creds.apiKey;
    }
    return h;
  }

  /** A raw request; returns the fetch Response. */
  async request(method, pathname, body, extraHeaders = {}) {
    const headers = { ...this.headers(), ...extraHeaders };
    if (body !== undefined) headers["content-type"] = "application/json";
    return fetch(this.base + pathname, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  /** A REST call that must answer `expect`; returns the parsed JSON body. */
  async rest(method, pathname, body, expect = 200) {
    const response = await this.request(method, pathname, body);
    const text = await response.text();
    if (response.status !== expect) {
      throw new Error(`${method} ${pathname}: expected ${expect}, got ${response.status}: ${text}`);
    }
    return text ? JSON.parse(text) : null;
  }

  /** POST /graphql; returns the whole answer `{data, errors}`. */
  async graphqlRaw(query, variables = {}) {
    const response = await this.request("POST", "/graphql", { query, variables });
    const text = await response.text();
    try {
      return JSON.parse(text);
    } catch {
      throw new Error(`POST /graphql answered ${response.status}, not JSON: ${text}`);
    }
  }

  /** POST /graphql expecting no errors; returns `data`. */
  async graphql(query, variables = {}) {
    const body = await this.graphqlRaw(query, variables);
    if (body.errors?.length) {
      throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}\nquery: ${query}\nvariables: ${JSON.stringify(variables)}`);
    }
    return body.data;
  }
}

/** Debian's Chromium, headless, through playwright-core. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: CHROMIUM_ARGS,
    headless: true,
  });
}

/**
 * A browser context whose every request is checked: anything to a host other than 127.0.0.1
 * is aborted and recorded in `offHost`, which `assertClean` turns into a failure. Console
 * errors and CSP violations (the `securitypolicyviolation` event, reported to the console by
 * the init script below) are recorded too.
 * @param {import("playwright-core").Browser} browser
 * @param {object} [options] more `newContext` options
 */
export async function guardedContext(browser, options = {}) {
  const context = await browser.newContext({ acceptDownloads: true, ...options });
  const guard = { context, offHost: [], consoleErrors: [], cspViolations: [], pageErrors: [] };
  const allowed = (url) => {
    if (url.startsWith("data:") || url.startsWith("blob:") || url === "about:blank") return true;
    try {
      return new URL(url).hostname === "127.0.0.1";
    } catch {
      return false;
    }
  };
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (allowed(url)) return route.fallback();
    guard.offHost.push(url);
    return route.abort("blockedbyclient");
  });
  // Routes do not see everything (e.g. WebSockets); the request events do.
  context.on("request", (request) => {
    if (!allowed(request.url())) guard.offHost.push(request.url());
  });
  context.on("page", (page) => watchPage(guard, page));
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI} (${e.sourceFile}:${e.lineNumber})`);
    });
  });
  return guard;
}

function watchPage(guard, page) {
  page.on("websocket", (ws) => {
    if (!/^wss?:\/\/127\.0\.0\.1[:/]/.test(ws.url())) guard.offHost.push(ws.url());
  });
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    const text = message.text();
    guard.consoleErrors.push(text);
    // Chromium reports CSP refusals itself too ("Refused to … because it violates …").
    if (/Content Security Policy|CSP violation/i.test(text)) guard.cspViolations.push(text);
  });
  page.on("pageerror", (error) => guard.pageErrors.push(String(error)));
}

/** Fails on any request off 127.0.0.1, any CSP violation and any uncaught page error. */
export function assertClean(guard) {
  assertNoOffHost(guard);
  if (guard.cspViolations.length) throw new Error(`CSP violations: ${guard.cspViolations.join("\n")}`);
  if (guard.pageErrors.length) throw new Error(`uncaught page errors: ${guard.pageErrors.join("\n")}`);
}

/** Fails when the context made any request off 127.0.0.1. */
export function assertNoOffHost(guard) {
  if (guard.offHost.length) {
    throw new Error(`requests to hosts other than 127.0.0.1: ${[...new Set(guard.offHost)].join(", ")}`);
  }
}

/** Saves a screenshot for people to look at (not asserted). */
export async function screenshot(page, name) {
  await mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Today's date (YYYY-MM-DD) in `zone`, offset by `days`. */
export function localDate(zone, days = 0, now = new Date()) {
  const shifted = new Date(now.getTime() + days * 86_400_000);
  return new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" }).format(shifted);
}

/** Waits until `check()` returns a truthy value (polled), or throws with `what`. */
export async function eventually(check, what, timeoutMs = 5_000, stepMs = 50) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** Runs `body(page, guard)` in a fresh guarded context of `browser`; the guard's checks (no other host, no CSP
 *  violation, no page error) run when `body` returns, and the context is closed either way. */
export async function withGuardedPage(browser, options, body) {
  const guard = await guardedContext(browser, options);
  const page = await guard.context.newPage();
  try {
    await body(page, guard);
    assertClean(guard);
  } finally {
    await guard.context.close();
  }
}
