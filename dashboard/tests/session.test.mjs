// Sign-in and the session: a wrong key is refused with a message, the key never lands in the
// URL or in storage, the JWT is renewed before it expires by exchanging the key kept in memory
// (never the token: the server mints tokens from keys only), a reloaded page (key gone) ends its
// session at the token's expiry with the reason shown (a server with a 6-second token lifetime),
// a view change costs one GraphQL request, and sign-out forgets the session.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, withGuardedPage, ADMIN_KEY, localDate, eventually } from "./harness.mjs";
import { seed, ANALYTICS_QUERY } from "./seed.mjs";
import { openDashboard, readTiles, expectedTiles, expectEventually } from "./ui.mjs";

const TTL_SECONDS = 6;
let server;
let browser;
let fixture;
const FROM = localDate("UTC", -29);
const TO = localDate("UTC");
const VIEW = `?from=${FROM}&to=${TO}&tz=UTC`;

before(async () => {
  server = await startServer(["--token-ttl-seconds", String(TTL_SECONDS)]);
  fixture = await seed(server.base);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const withPage = (body) => withGuardedPage(browser, undefined, body);

test("a wrong key is refused with a message, and the key is kept out of URLs and storage", async () => {
  await withPage(async (page) => {
    await page.goto(`${server.base}/dashboard${VIEW}`);
    await page.getByLabel("API key").fill("convio_not_a_key_0000000000000000");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").waitFor({ timeout: 5_000 });
    assert.equal(await page.getByRole("button", { name: "Sign out" }).count(), 0, "still signed out");
    const requests = [];
    page.on("request", (r) => requests.push(r.url()));
    await page.getByLabel("API key").fill(ADMIN_KEY);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("button", { name: "Sign out" }).waitFor();
    await page.getByTestId("tile-total-conversions").getByTestId("value").waitFor();
    assert.ok(!page.url().includes(ADMIN_KEY), "the key is not in the page URL");
    assert.ok(!requests.some((u) => u.includes(ADMIN_KEY)), "the key is in no request URL");
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
    assert.ok(!stored.includes(ADMIN_KEY), "the key is in neither localStorage nor sessionStorage");
    assert.equal(await page.evaluate(() => localStorage.length), 0, "nothing in localStorage");
  });
});

test("the token is renewed with the key before it expires and the dashboard keeps working", async () => {
  const expected = await analytics({ fromDate: FROM, toDate: TO, timeZone: "UTC", workspaceId: "alpha" });
  await withPage(async (page) => {
    const tokens = [];
    page.on("response", (r) => {
      if (new URL(r.url()).pathname === "/auth/token") {
        tokens.push({ status: r.status(), authorization: r.request().headers()["authorization"] ?? "" });
      }
    });
    const signedInAt = Date.now();
    await openDashboard(page, server.base, VIEW);
    await eventually(() => tokens.length >= 2, "a renewal at POST /auth/token", TTL_SECONDS * 1000 + 2_000);
    assert.deepEqual(tokens.slice(0, 2).map((t) => t.status), [200, 200]);
    for (const { authorization } of tokens) {
      assert.equal(authorization, `Bearer ${ADMIN_KEY}`, "each exchange presents the key, never a token");
    }
    // Past the first token's lifetime, a view change still answers.
    await page.waitForTimeout(Math.max(0, signedInAt + TTL_SECONDS * 1000 + 500 - Date.now()));
    await page.getByRole("combobox", { name: /^Workspace/ }).selectOption("alpha");
    await expectEventually(() => readTiles(page), expectedTiles(expected.summary), "alpha's tiles after the renewal");
    assert.equal(await page.getByRole("button", { name: "Sign out" }).count(), 1, "still signed in");
  });
});

test("after a reload the key is gone: the session ends when its token does, saying why", async () => {
  // Its own server, with tokens long enough to outlast a reload (a restored token needs 5 s left).
  const ttl = 12;
  const own = await startServer(["--token-ttl-seconds", String(ttl)]);
  try {
    await reloadEndsTheSessionAtExpiry(own, ttl);
  } finally {
    await own.stop();
  }
});

async function reloadEndsTheSessionAtExpiry(server, TTL_SECONDS) {
  await withPage(async (page) => {
    await openDashboard(page, server.base, VIEW);
    await page.getByTestId("tile-total-conversions").getByTestId("value").waitFor();
    const exchanges = [];
    page.on("request", (r) => {
      if (new URL(r.url()).pathname === "/auth/token") exchanges.push(r.headers()["authorization"] ?? "");
    });
    const reloadedAt = Date.now();
    await page.reload();
    // Still signed in with the token from sessionStorage…
    await page.getByTestId("tile-total-conversions").getByTestId("value").waitFor();
    assert.equal(await page.getByRole("button", { name: "Sign out" }).count(), 1, "signed in after the reload");
    // …until it runs out: no renewal without the key, and the sign-in form says why.
    await page.getByTestId("signout-reason").waitFor({ timeout: TTL_SECONDS * 1000 + 3_000 });
    assert.match(await page.getByTestId("signout-reason").innerText(), /sign in again/i);
    assert.ok(Date.now() - reloadedAt < TTL_SECONDS * 1000 + 3_000, "ended at the token's expiry");
    assert.deepEqual(exchanges, [], "no exchange after the reload: the token is never exchanged for another");
    const stored = await page.evaluate(() => JSON.stringify({ ...sessionStorage }) + JSON.stringify({ ...localStorage }));
    assert.ok(!stored.includes(ADMIN_KEY), "the key was never stored");
    // Signing in again works.
    await page.getByLabel("API key").fill(ADMIN_KEY);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("button", { name: "Sign out" }).waitFor();
  });
}

test("a view change costs exactly one GraphQL request", async () => {
  await withPage(async (page) => {
    await openDashboard(page, server.base, VIEW);
    await page.getByTestId("tile-total-conversions").getByTestId("value").waitFor();
    await page.waitForLoadState("networkidle");
    const posts = [];
    page.on("request", (r) => {
      if (new URL(r.url()).pathname === "/graphql") posts.push(r.postData() ?? "");
    });
    await page.getByRole("combobox", { name: /^Interval/ }).selectOption("week");
    await eventually(() => new URL(page.url()).searchParams.get("interval") === "week", "interval=week in the URL");
    await page.waitForLoadState("networkidle");
    await page.waitForTimeout(300);
    assert.equal(posts.length, 1, `GraphQL requests for one view change: ${posts.map((p) => p.slice(0, 80)).join(" | ")}`);
  });
});

test("sign-out forgets the session, also across a reload", async () => {
  await withPage(async (page) => {
    await openDashboard(page, server.base, VIEW);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByLabel("API key").waitFor();
    await page.reload();
    await page.getByLabel("API key").waitFor();
    assert.equal(await page.getByTestId("tile-total-conversions").count(), 0, "no figures after sign-out");
    const stored = await page.evaluate(() => sessionStorage.length + localStorage.length);
    assert.equal(stored, 0, "no session left in storage");
  });
});

async function analytics(filter) {
  return (await fixture.admin.graphql(ANALYTICS_QUERY, { filter })).conversionAnalytics;
}
