// The dashboard in Chromium against the real binary and the seeded data (seed.mjs): every
// figure is compared with the GraphQL API's own answer for the same view, asked directly here.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import http from "node:http";
import {
  startServer, launchBrowser, withGuardedPage, screenshot, localDate, eventually, ADMIN_KEY,
} from "./harness.mjs";
import { seed, ANALYTICS_QUERY, DST_EXPECTED, DST_FROM, DST_TO } from "./seed.mjs";
import {
  openDashboard, signInIfAsked, readTiles, expectedTiles, readFunnel, readGrid, expectedGrid, readTimeline,
  expectEventually,
} from "./ui.mjs";

let server;
let browser;
let fixture;
const FROM = localDate("UTC", -29);
const TO = localDate("UTC");
const VIEW = `?from=${FROM}&to=${TO}&tz=UTC`;
const DST_VIEW = `?from=${DST_FROM}&to=${DST_TO}&tz=America/New_York&interval=day`;

before(async () => {
  server = await startServer();
  fixture = await seed(server.base);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const withPage = (options, body) => withGuardedPage(browser, options, body);

async function analytics(filter) {
  return (await fixture.admin.graphql(ANALYTICS_QUERY, { filter })).conversionAnalytics;
}

const funnelOf = (a) => Object.fromEntries(a.funnel.map((s) => [s.stage, String(s.count)]));

test("tiles, funnel and grid equal the API's answers", async () => {
  const expected = await analytics({ fromDate: FROM, toDate: TO, timeZone: "UTC" });
  assert.ok(expected.summary.totalConversions >= 8, "the seeded conversions are in the view");
  await withPage({}, async (page) => {
    await openDashboard(page, server.base, VIEW);
    await expectEventually(() => readTiles(page), expectedTiles(expected.summary), "tiles");
    await expectEventually(() => readFunnel(page), funnelOf(expected), "funnel");
    await expectEventually(() => readGrid(page), expectedGrid(expected.byWorkspace), "workspace grid");
    // The change against the previous period is said in text and sign, not colour alone:
    // 8 conversions now against 1 in the previous 30 days.
    const change = await page.getByTestId("tile-total-conversions").getByTestId("change").innerText();
    assert.match(change, /\+|▲|↑|up|increase/i, `an increase is said in words or signs: "${change}"`);
    await screenshot(page, "overview-light");
  });
});

test("a workspace's key sees only its own figures", async () => {
  const expected = await analytics({ fromDate: FROM, toDate: TO, timeZone: "UTC", workspaceId: "beta" });
  await withPage({}, async (page) => {
    await openDashboard(page, server.base, VIEW, fixture.ws.beta.key);
    await expectEventually(() => readTiles(page), expectedTiles(expected.summary), "beta's tiles");
    await expectEventually(async () => Object.keys(await readGrid(page)), ["beta"], "only beta in the grid");
  });
});

test("the URL reproduces the view after reload and Back", async () => {
  const all = await analytics({ fromDate: FROM, toDate: TO, timeZone: "UTC" });
  const alpha = await analytics({ fromDate: FROM, toDate: TO, timeZone: "UTC", workspaceId: "alpha" });
  await withPage({}, async (page) => {
    await openDashboard(page, server.base, VIEW);
    await expectEventually(() => readTiles(page), expectedTiles(all.summary), "all workspaces");
    await page.getByRole("combobox", { name: /^Workspace/ }).selectOption("alpha");
    await eventually(() => new URL(page.url()).searchParams.get("ws") === "alpha", "ws=alpha in the URL");
    await expectEventually(() => readTiles(page), expectedTiles(alpha.summary), "alpha after choosing it");
    await page.reload();
    await signInIfAsked(page);
    assert.equal(new URL(page.url()).searchParams.get("ws"), "alpha");
    await expectEventually(() => readTiles(page), expectedTiles(alpha.summary), "alpha after reload");
    await expectEventually(() => readFunnel(page), funnelOf(alpha), "alpha's funnel after reload");
    assert.equal(await page.getByRole("combobox", { name: /^Workspace/ }).inputValue(), "alpha");
    await page.goBack();
    await eventually(() => !new URL(page.url()).searchParams.has("ws"), "ws gone from the URL after Back");
    await signInIfAsked(page);
    await expectEventually(() => readTiles(page), expectedTiles(all.summary), "all workspaces after Back");
  });
});

test("a rolling range in the URL (range=90d, then 7d from the Range control) ends today in the view's zone", async () => {
  const ninety = await analytics({ fromDate: localDate("UTC", -89), toDate: TO, timeZone: "UTC" });
  const seven = await analytics({ fromDate: localDate("UTC", -6), toDate: TO, timeZone: "UTC" });
  assert.equal(ninety.summary.totalConversions, seven.summary.totalConversions + 1, "the 40-day-old sale tells them apart");
  await withPage({}, async (page) => {
    await openDashboard(page, server.base, "?range=90d&tz=UTC");
    await expectEventually(() => readTiles(page), expectedTiles(ninety.summary), "the last 90 days");
    await page.getByRole("combobox", { name: /^Range/ }).selectOption("7d");
    await eventually(() => new URL(page.url()).searchParams.get("range") === "7d", "range=7d in the URL");
    await expectEventually(() => readTiles(page), expectedTiles(seven.summary), "the last 7 days");
  });
});

test("a DST week's daily buckets in America/New_York", async () => {
  const ny = await analytics({ fromDate: DST_FROM, toDate: DST_TO, timeZone: "America/New_York" });
  const days = Object.fromEntries(ny.trends.daily.map((p) => [p.period, [p.conversions, String(p.totalValue)]]));
  assert.deepEqual(days, DST_EXPECTED["America/New_York"], "the API's New York days");
  await withPage({}, async (page) => {
    await openDashboard(page, server.base, DST_VIEW);
    const expected = {};
    for (let d = 4; d <= 17; d++) {
      const day = `2024-03-${String(d).padStart(2, "0")}`;
      expected[day] = days[day] ?? [0, "0"];
    }
    const normalise = async () => {
      const { buckets } = await readTimeline(page);
      return Object.fromEntries(Object.entries(buckets).map(([k, [n, v]]) => [k, [n, n === 0 ? "0" : v]]));
    };
    await expectEventually(normalise, expected, "one row per New York day, with the API's figures");
    const { headers } = await readTimeline(page);
    assert.ok(headers.some((h) => h.includes("America/New_York")), `bucket labels say the zone: ${headers}`);
    await screenshot(page, "timeline-dst-light");
    // The same days in UTC move 100.00 and 300.00 across midnight.
    await page.getByRole("combobox", { name: /^Time zone/ }).selectOption("UTC");
    await eventually(() => new URL(page.url()).searchParams.get("tz") === "UTC", "tz=UTC in the URL");
    await expectEventually(
      async () => (await readTimeline(page)).buckets["2024-03-10"],
      [2, "300.00"],
      "2024-03-10 in UTC",
    );
  });
});

test("drill-down from a bucket (Enter) to a conversion and its contact", async () => {
  const contact = (await fixture.admin.graphql(
    `{ contact(id: "2006") { id conversionStatus lifetimeValue conversionCount } }`,
  )).contact;
  const inBucket = fixture.conversions
    .filter((c) => ["2024-03-10T05:30:00Z", "2024-03-11T03:30:00Z"].includes(new Date(c.converted_at).toISOString().replace(".000", "")))
    .map((c) => c.id)
    .sort();
  assert.equal(inBucket.length, 2, "two seeded sales on New York's 2024-03-10");
  await withPage({}, async (page) => {
    await openDashboard(page, server.base, DST_VIEW);
    const row = page.getByRole("table", { name: "Timeline data" }).locator('tr[data-period="2024-03-10"]');
    await row.focus();
    await page.keyboard.press("Enter");
    await eventually(() => new URL(page.url()).searchParams.get("drill") === "period:2024-03-10", "drill in the URL");
    const drill = page.getByRole("region", { name: "Drill-down" });
    await expectEventually(
      async () => (await drill.locator("tr[data-conversion-id]").evaluateAll((trs) => trs.map((t) => t.dataset.conversionId))).sort(),
      inBucket,
      "the bucket's conversions",
    );
    await screenshot(page, "drill-down-light");
    await drill.locator(`tr[data-conversion-id="${inBucket[0]}"]`).getByRole("button", { name: /2006/ }).click();
    await eventually(() => new URL(page.url()).searchParams.get("contact") === "2006", "contact in the URL");
    const card = page.getByRole("region", { name: "Contact" });
    await expectEventually(
      async () => ({
        status: await card.getByTestId("contact-status").getAttribute("data-value"),
        lifetime: await card.getByTestId("contact-lifetime-value").getAttribute("data-value"),
        count: await card.getByTestId("contact-conversion-count").getAttribute("data-value"),
      }),
      { status: contact.conversionStatus, lifetime: String(contact.lifetimeValue), count: String(contact.conversionCount) },
      "the contact's figures",
    );
    await screenshot(page, "contact-light");
    // A copied link opens the same drill-down and contact.
    const link = page.url();
    const other = await page.context().newPage();
    await other.goto(link);
    await signInIfAsked(other);
    await other.getByRole("region", { name: "Contact" }).getByTestId("contact-status").waitFor();
    await other.getByRole("region", { name: "Drill-down" }).locator(`tr[data-conversion-id="${inBucket[1]}"]`).waitFor();
    await other.close();
  });
});

test("a funnel stage opens the list of its contacts", async () => {
  const expected = await analytics({ fromDate: FROM, toDate: TO, timeZone: "UTC" });
  const qualified = expected.funnel.find((s) => s.stage === "qualified").count;
  await withPage({}, async (page) => {
    await openDashboard(page, server.base, VIEW);
    await page.getByTestId("funnel-qualified").click();
    await eventually(() => new URL(page.url()).searchParams.get("drill") === "stage:qualified", "drill=stage:qualified");
    const drill = page.getByRole("region", { name: "Drill-down" });
    await expectEventually(() => drill.locator("tr[data-contact-id]").count(), qualified, "one row per qualified contact");
  });
});

test("by keyboard alone: sign in, Tab to a funnel stage, open it with Enter", async () => {
  const expected = await analytics({ fromDate: FROM, toDate: TO, timeZone: "UTC" });
  const qualified = expected.funnel.find((s) => s.stage === "qualified").count;
  await withPage({}, async (page) => {
    await page.goto(`${server.base}/dashboard${VIEW}`);
    await page.getByLabel("API key").waitFor();
    let focused = "";
    for (let i = 0; i < 10 && focused !== "API key"; i++) {
      await page.keyboard.press("Tab");
      focused = await page.evaluate(() => document.activeElement?.labels?.[0]?.textContent.trim() ?? "");
    }
    assert.equal(focused, "API key", "Tab reaches the key field");
    await page.keyboard.type(ADMIN_KEY);
    await page.keyboard.press("Enter");
    await page.getByTestId("funnel-qualified").waitFor();
    let stage = null;
    for (let i = 0; i < 80 && stage !== "funnel-qualified"; i++) {
      await page.keyboard.press("Tab");
      stage = await page.evaluate(() => document.activeElement?.getAttribute("data-testid"));
    }
    assert.equal(stage, "funnel-qualified", "Tab reaches the funnel's Qualified stage");
    await page.keyboard.press("Enter");
    const drill = page.getByRole("region", { name: "Drill-down" });
    await expectEventually(() => drill.locator("tr[data-contact-id]").count(), qualified, "the stage's contacts, opened by Enter");
  });
});

test("the workspace grid sorts by its column headers, and a row filters the dashboard", async () => {
  const beta = await analytics({ fromDate: FROM, toDate: TO, timeZone: "UTC", workspaceId: "beta" });
  await withPage({}, async (page) => {
    await openDashboard(page, server.base, VIEW);
    const grid = page.getByRole("table", { name: "Workspace performance", exact: true });
    const header = grid.locator("thead th").filter({ hasText: /^Contacts/ });
    const contacts = () => grid.locator("tbody tr[data-workspace-id]").evaluateAll((trs) => trs.map((tr) => Number(tr.children[1].dataset.value)));
    await grid.locator("tbody tr[data-workspace-id]").first().waitFor();
    for (let i = 0; i < 2; i++) {
      await header.getByRole("button").click();
      const sort = await header.getAttribute("aria-sort");
      assert.ok(sort === "ascending" || sort === "descending", `aria-sort after a click: ${sort}`);
      const values = await contacts();
      const sorted = [...values].sort((a, b) => (sort === "ascending" ? a - b : b - a));
      assert.deepEqual(values, sorted, `rows ${sort} by contacts`);
    }
    await grid.locator('tr[data-workspace-id="beta"]').getByRole("button").click();
    await eventually(() => new URL(page.url()).searchParams.get("ws") === "beta", "ws=beta in the URL");
    await expectEventually(() => readTiles(page), expectedTiles(beta.summary), "beta's tiles after clicking its row");
  });
});

test("the page loads with no CSP violation and its assets weigh at most 150 kB gzip", async () => {
  await withPage({}, async (page, guard) => {
    const assets = new Set();
    page.on("response", (r) => {
      const u = new URL(r.url());
      if (u.pathname === "/dashboard" || u.pathname.startsWith("/dashboard/")) assets.add(u.pathname);
    });
    await openDashboard(page, server.base, VIEW);
    await page.getByTestId("tile-total-conversions").getByTestId("value").waitFor();
    await page.waitForLoadState("networkidle");
    assert.deepEqual(guard.cspViolations, [], "no CSP violation reported");
    assert.ok([...assets].some((p) => p.endsWith(".js")), `scripts loaded: ${[...assets]}`);
    let total = 0;
    const sizes = {};
    for (const pathname of assets) {
      sizes[pathname] = await gzipSize(`${server.base}${pathname}`);
      total += sizes[pathname];
    }
    assert.ok(total <= 150 * 1024, `dashboard assets are ${total} bytes gzip (> 150 kB): ${JSON.stringify(sizes)}`);
  });
});

test("dark mode follows the system and the toggle", async () => {
  for (const scheme of ["light", "dark"]) {
    await withPage({ colorScheme: scheme }, async (page) => {
      await openDashboard(page, server.base, VIEW);
      await page.getByTestId("tile-total-conversions").getByTestId("value").waitFor();
      const toggle = page.getByRole("button", { name: "Dark mode" });
      assert.equal(await isDark(page), scheme === "dark", `follows the system's ${scheme} scheme`);
      assert.equal(await toggle.getAttribute("aria-pressed"), String(scheme === "dark"));
      await screenshot(page, `overview-${scheme}-system`);
      await toggle.click();
      await eventually(async () => (await isDark(page)) === (scheme !== "dark"), "the toggle flips the theme");
      assert.equal(await toggle.getAttribute("aria-pressed"), String(scheme !== "dark"));
      if (scheme === "light") {
        await screenshot(page, "overview-dark");
        await openDashboard(page, server.base, DST_VIEW);
        await page.getByRole("table", { name: "Timeline data" }).waitFor();
        await screenshot(page, "timeline-dst-dark");
      }
    });
  }
});

test("axe-core finds no serious or critical violation", async () => {
  // The page's CSP (script-src falls back to default-src 'self') refuses page.addScriptTag's
  // inline script, so axe's source is evaluated through the DevTools protocol instead, which the
  // CSP does not govern; the page itself keeps its real CSP.
  const require = createRequire(import.meta.url);
  const axeSource = await readFile(require.resolve("axe-core/axe.min.js"), "utf8");
  await withPage({}, async (page) => {
    const views = [
      ["overview", VIEW],
      ["drill-down-and-contact", `${DST_VIEW}&drill=period:2024-03-10&contact=2006`],
    ];
    const found = [];
    for (const [name, search] of views) {
      for (const dark of [false, true]) {
        await page.emulateMedia({ colorScheme: dark ? "dark" : "light" });
        await openDashboard(page, server.base, search);
        await page.getByRole("region", { name: "Overview" }).getByTestId("tile-total-conversions").getByTestId("value").waitFor();
        await page.waitForLoadState("networkidle");
        if (name !== "overview") {
          await page.getByRole("region", { name: "Contact" }).getByTestId("contact-status").waitFor();
          await page.getByRole("region", { name: "Drill-down" }).locator("tr[data-conversion-id]").first().waitFor();
        }
        await screenshot(page, `${name}-${dark ? "dark" : "light"}`);
        await page.evaluate(axeSource);
        const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
        for (const v of results.violations) {
          if (v.impact === "serious" || v.impact === "critical") {
            found.push(`${name}${dark ? " (dark)" : ""}: ${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join("; ")}`);
          }
        }
      }
    }
    assert.deepEqual(found, [], "serious or critical axe violations");
  });
});

/** The gzip-encoded size of a response (what a browser that accepts gzip transfers). */
function gzipSize(url) {
  return new Promise((resolve, reject) => {
    http.get(url, { headers: { "accept-encoding": "gzip" } }, (res) => {
      let n = 0;
      res.on("data", (chunk) => (n += chunk.length));
      res.on("end", () => resolve(n));
      res.on("error", reject);
    }).on("error", reject);
  });
}

/** Whether the page's background is dark (relative luminance under 0.3). */
async function isDark(page) {
  return page.evaluate(() => {
    const pick = (el) => {
      for (let e = el; e; e = e.parentElement) {
        const c = getComputedStyle(e).backgroundColor;
        const m = c.match(/rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?/);
        if (m && (m[4] === undefined || Number(m[4]) > 0.5)) return m.slice(1, 4).map(Number);
      }
      return [255, 255, 255];
    };
    const [r, g, b] = pick(document.querySelector("main") ?? document.body);
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255 < 0.3;
  });
}
