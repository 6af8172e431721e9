// A bad view in the URL, a failing query and a refused feed never blank the page: a refused URL value falls
// back to its default with a notice (and leaves the URL), a workspace key cannot point `ws` at another
// workspace, errors show inline with the controls still usable, a revoked key lands on the sign-in form with
// the reason, and catch-up after a reconnect pages through more than one page of missed conversions.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, guardedContext, assertClean, eventually, withGuardedPage } from "./harness.mjs";
import { seed, logConversion } from "./seed.mjs";
import { openDashboard, readTiles } from "./ui.mjs";

let server;
let browser;
let fixture;

before(async () => {
  server = await startServer();
  fixture = await seed(server.base);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const withPage = (fn, options) => withGuardedPage(browser, options, fn);

test("an unknown tz falls back to the default with a notice, the URL is rewritten, and sign-out/in stays fine", async () => {
  await withPage(async (page) => {
    await openDashboard(page, server.base, "?tz=Mars/Olympus&range=30d");
    await readTiles(page);
    const notice = page.getByTestId("url-notice");
    assert.match(await notice.innerText(), /tz/);
    assert.ok(!page.url().includes("Mars"), `the bad value is gone from the URL: ${page.url()}`);
    assert.equal(await page.getByRole("combobox", { name: /^Time zone/ }).inputValue(), "UTC");
    await notice.getByRole("button", { name: "Dismiss" }).click();
    assert.equal(await notice.count(), 0);
    await page.getByRole("button", { name: "Sign out" }).click();
    await openDashboard(page, server.base, "");
    await readTiles(page);
  });
});

test("impossible dates, from after to and unknown range/interval/compare fall back with a notice", async () => {
  await withPage(async (page) => {
    await openDashboard(page, server.base, "?from=2026-02-30&to=2026-03-05&interval=hour&compare=decade&tz=UTC");
    await readTiles(page);
    const text = await page.getByTestId("url-notice").innerText();
    for (const key of ["from", "interval", "compare"]) assert.match(text, new RegExp(key));
    const url = new URL(page.url());
    assert.equal(url.searchParams.get("from"), null);
    assert.equal(url.searchParams.get("interval"), null);
    await page.goto(`${server.base}/dashboard?from=2024-03-10&to=2024-03-01&range=99y`);
    await readTiles(page);
    assert.match(await page.getByTestId("url-notice").innerText(), /range/);
    assert.equal(new URL(page.url()).searchParams.get("range"), "30d");
  });
});

test("a workspace key opening another workspace's ws sees its own, with a notice and no error", async () => {
  await withPage(async (page) => {
    await openDashboard(page, server.base, "?ws=beta&tz=UTC", fixture.ws.alpha.key);
    await readTiles(page);
    assert.match(await page.getByTestId("url-notice").innerText(), /ws/);
    assert.equal(await page.getByTestId("query-error").count(), 0);
    assert.equal(await page.getByRole("combobox", { name: "Workspace" }).inputValue(), "alpha");
    assert.equal(new URL(page.url()).searchParams.get("ws"), null);
  });
});

test("a failing Dashboard query shows inline with the controls usable; RATE_LIMITED says when it resets", async () => {
  await withPage(async (page) => {
    let limited = false;
    await page.route("**/graphql", async (route) => {
      const body = route.request().postData() ?? "";
      if (limited && body.includes("query Dashboard")) {
        return route.fulfill({
          status: 429,
          headers: { "content-type": "application/json", "retry-after": "600", "x-ratelimit-reset": "600" },
          body: JSON.stringify({ data: null, errors: [{ message: "rate limit of 5 requests per hour exceeded", extensions: { code: "RATE_LIMITED" } }] }),
        });
      }
      return route.fallback();
    });
    await openDashboard(page, server.base, "?tz=UTC");
    await readTiles(page);
    limited = true;
    const range = page.getByRole("combobox", { name: "Range" });
    await range.selectOption("7d");
    const alert = page.getByTestId("query-error");
    await alert.waitFor({ timeout: 10_000 });
    assert.equal(await alert.getAttribute("role"), "alert");
    assert.match(await alert.innerText(), /resets in about 10 minutes/);
    assert.ok(await range.isEnabled(), "the controls stay usable");
    limited = false;
    await range.selectOption("90d");
    await eventually(async () => (await alert.count()) === 0, "the error to clear", 10_000);
    await readTiles(page);
  });
});

test("a revoked key: the feed stops and the sign-in form says why", async () => {
  const body = await fixture.admin.rest("POST", "/workspaces/register",
    { workspace_id: "gamma", workspace_name: "gamma team", permissions: ["read"] }, 201);
  await withPage(async (page) => {
    await openDashboard(page, server.base, "?tz=UTC", body.api_key);
    await page.getByRole("region", { name: "Live feed" }).getByRole("status").filter({ hasText: /^Live$/ }).waitFor({ timeout: 10_000 });
    let sockets = 0;
    page.on("websocket", () => sockets++);
    await fixture.admin.rest("POST", "/workspaces/gamma/keys/revoke");
    const reason = page.getByTestId("signout-reason");
    await reason.waitFor({ timeout: 20_000 });
    assert.match(await reason.innerText(), /revoked or your session ended; sign in again/);
    await page.getByLabel("API key").waitFor();
    const after = sockets;
    await page.waitForTimeout(2_000);
    assert.equal(sockets, after, "no reconnect after the refusal");
  });
});

test("catch-up after a reconnect pages past 200: every missed conversion arrives exactly once", async () => {
  const guard = await guardedContext(browser);
  const link = { up: true, sockets: new Set() };
  await guard.context.routeWebSocket(/\/graphql\/ws$/, (ws) => {
    if (!link.up) return ws.close({ code: 1011, reason: "link down" });
    const upstream = ws.connectToServer();
    const pair = { ws, upstream };
    link.sockets.add(pair);
    ws.onClose(() => link.sockets.delete(pair));
  });
  const page = await guard.context.newPage();
  try {
    await openDashboard(page, server.base, "?tz=UTC&range=7d");
    const status = page.getByRole("region", { name: "Live feed" }).getByRole("status");
    await status.filter({ hasText: /^Live$/ }).waitFor({ timeout: 10_000 });
    await readTiles(page);
    link.up = false;
    for (const { ws, upstream } of link.sockets) {
      await upstream.close({ code: 1001, reason: "link down" }).catch(() => {});
      await ws.close({ code: 1011, reason: "link down" }).catch(() => {});
    }
    await status.filter({ hasText: "Reconnecting" }).waitFor({ timeout: 5_000 });
    const MISSED = 230;
    const ids = [];
    for (let i = 0; i < MISSED; i++) ids.push((await logConversion(fixture.ws.beta.api, 2008, "upsell", "1.00", null)).id);
    link.up = true;
    await status.filter({ hasText: /^Live$/ }).waitFor({ timeout: 15_000 });
    const refresh = page.getByRole("button", { name: /^Refresh figures/ });
    await eventually(async () => (await refresh.innerText()).includes(`(${MISSED} new conversions)`), `${MISSED} arrivals`, 15_000);
    await page.waitForTimeout(1_000);
    assert.match(await refresh.innerText(), new RegExp(`\\(${MISSED} new conversions\\)`), "each missed conversion counted once");
    const shown = await page.getByRole("list", { name: "Live feed" }).locator("li[data-conversion-id]").evaluateAll((els) => els.map((e) => e.dataset.conversionId));
    assert.equal(new Set(shown).size, shown.length, "no duplicates in the feed");
    assert.ok(shown.includes(String(ids.at(-1))), "the newest missed conversion is shown");
    assert.equal(await page.getByTestId("feed-missed-more").count(), 0);
    assertClean(guard);
  } finally {
    await guard.context.close();
  }
});

test("huge figures stay inside their tiles and funnel rows at every width down to 375 px", async () => {
  for (const width of [375, 700, 1280]) {
    await withPage(async (page) => {
      await page.route("**/graphql", async (route) => {
        if (!(route.request().postData() ?? "").includes("query Dashboard")) return route.fallback();
        const response = await route.fetch();
        const json = await response.json();
        const s = json.data.current.summary;
        s.totalValue = "1000007950691.23";
        s.averageValue = "999999999999.99";
        s.totalConversions = 123456789012;
        s.contactsReceived = 987654321098;
        json.data.current.funnel.forEach((f, i) => { f.count = 987654321098 - i; });
        return route.fulfill({ response, json });
      });
      await openDashboard(page, server.base, "?tz=UTC");
      await readTiles(page);
      const problems = await page.evaluate(() => {
        const out = [];
        const tiles = [...document.querySelectorAll('[data-testid^="tile-"]')].map((t) => t.getBoundingClientRect());
        document.querySelectorAll('[data-testid^="tile-"]').forEach((t, i) => {
          const r = tiles[i];
          for (const el of t.querySelectorAll("dt, dd")) {
            const e = el.getBoundingClientRect();
            if (e.left < r.left - 0.5 || e.right > r.right + 0.5 || el.scrollWidth > el.clientWidth + 1) out.push(`${t.dataset.testid} overflows: ${el.tagName} ${Math.round(e.left)}-${Math.round(e.right)} in ${Math.round(r.left)}-${Math.round(r.right)} sw=${el.scrollWidth} cw=${el.clientWidth} ${el.textContent}`);
          }
        });
        for (const stage of document.querySelectorAll('[data-testid^="funnel-"]')) {
          const r = stage.getBoundingClientRect();
          for (const el of stage.querySelectorAll("span, strong")) {
            const e = el.getBoundingClientRect();
            if (e.width && (e.left < r.left - 0.5 || e.right > r.right + 0.5)) out.push(`${stage.dataset.testid} overflows`);
          }
        }
        if (document.documentElement.scrollWidth > window.innerWidth) out.push(`page ${document.documentElement.scrollWidth} px wide`);
        return [...new Set(out)];
      });
      assert.deepEqual(problems, [], `at ${width} px`);
      if (width === 375) await page.screenshot({ path: `${(await import("./harness.mjs")).SCREENSHOTS}/overview-huge-375.png`, fullPage: false });
    }, { viewport: { width, height: 900 } });
  }
});
