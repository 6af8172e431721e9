// A total the API cannot make (a conversion in a currency without a rate into the reporting
// currency: `totalValue` null) reads "—", never 0, titled with why: in the timeline, the overview
// and the workspace grid, which sorts such a row last whichever way. Once the rate is set it reads
// the API's exact total. Its own server, so the seeded figures of other files stay put.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, withGuardedPage, localDate, Api } from "./harness.mjs";
import { openDashboard, readTimeline, readGrid, expectEventually } from "./ui.mjs";

const DAY = localDate("UTC", -1);
const EMPTY_DAY = localDate("UTC", -2);
const VIEW = `?from=${localDate("UTC", -6)}&to=${localDate("UTC")}&tz=UTC&interval=day`;
const TRENDS = `query Trends($filter: AnalyticsFilter) {
  conversionAnalytics(filter: $filter) { currency trends { daily { period conversions totalValue } } }
}`;

let server;
let browser;
let admin;

before(async () => {
  server = await startServer();
  admin = new Api(server.base);
  const keys = {};
  for (const id of ["lead_gen", "alpha", "beta"]) {
    const body = await admin.rest("POST", "/workspaces/register", {
      workspace_id: id, workspace_name: `${id} team`, permissions: ["read", "update", "convert"],
    }, 201);
    keys[id] = admin.as({ workspaceId: id, apiKey: body.api_key });
  }
  await keys.lead_gen.rest("POST", "/contacts", { id: 3001, name: "Contact 3001" }, 201);
  await keys.lead_gen.rest("POST", "/contacts/3001/send", { to_workspace_id: "alpha" });
  await keys.lead_gen.rest("POST", "/contacts/3001/send", { to_workspace_id: "beta" });
  const at = `${DAY}T12:00:00Z`;
  await keys.beta.rest("POST", "/conversions/log", {
    contact_id: 3001, converted_by: "agent", conversion_type: "sale", conversion_value: "20.00", currency: "USD",
    converted_at: `${localDate("UTC", -3)}T12:00:00Z`,
  }, 201);
  for (const [value, currency] of [["100.00", "USD"], ["50.00", "EUR"]]) {
    await keys.alpha.rest("POST", "/conversions/log", {
      contact_id: 3001, converted_by: "agent", conversion_type: "sale",
      conversion_value: value, currency, converted_at: at,
    }, 201);
  }
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function apiDay() {
  const filter = { fromDate: localDate("UTC", -6), toDate: localDate("UTC"), timeZone: "UTC" };
  const a = (await admin.graphql(TRENDS, { filter })).conversionAnalytics;
  assert.equal(a.currency, "USD");
  return a.trends.daily.find((p) => p.period === DAY);
}

test("a day with a conversion lacking a rate reads — in the timeline, then the exact total once the rate is set", async () => {
  assert.deepEqual(await apiDay(), { period: DAY, conversions: 2, totalValue: null }, "the API cannot total EUR in USD");
  await withGuardedPage(browser, {}, async (page) => {
    await openDashboard(page, server.base, VIEW);
    const row = async (day) => (await readTimeline(page)).buckets[day];
    await expectEventually(() => row(DAY), [2, "—"], "no rate: the value is unknown, not 0");
    await expectEventually(() => row(EMPTY_DAY), [0, "0"], "a day without conversions is worth 0");
    const why = /no exchange rate into USD/;
    const valueCell = page.locator(`table:has(caption:text-is("Timeline data")) tr[data-period="${DAY}"] td`).nth(1);
    assert.match((await valueCell.getAttribute("title")) ?? "", why, "the unknown value says why");
    const total = page.locator('[data-testid="tile-total-value"] [data-testid="value"]');
    assert.equal((await total.textContent())?.trim(), "—");
    assert.match((await total.getAttribute("title")) ?? "", why);

    // The grid: alpha's revenue is unknown, beta's is 20.00; unknown sorts last both ways.
    const grid = await readGrid(page);
    assert.equal(grid.alpha.revenue, "—");
    assert.equal(grid.beta.revenue, "20.00");
    const revenueCell = page.locator('tr[data-workspace-id="alpha"] td').nth(3);
    assert.match((await revenueCell.getAttribute("title")) ?? "", why);
    const order = () => page.locator("tr[data-workspace-id]").evaluateAll((trs) => trs.map((t) => t.dataset.workspaceId));
    const revenueHeader = page.locator('table.grid th:has-text("Revenue")');
    for (const sort of ["descending", "ascending"]) {
      if ((await revenueHeader.getAttribute("aria-sort")) !== sort) await revenueHeader.locator("button").click();
      assert.equal(await revenueHeader.getAttribute("aria-sort"), sort);
      const ids = await order();
      assert.equal(ids.at(-1), "alpha", `unknown revenue last when ${sort}: ${ids}`);
      assert.ok(ids.indexOf("beta") < ids.indexOf("alpha"));
    }

    await admin.rest("PUT", "/exchange-rates", {
      base: "EUR", quote: "USD", rate: "1.0842", effective_date: "2020-01-01",
    });
    const day = await apiDay();
    assert.equal(day.totalValue, "154.21", "100.00 USD + 50.00 EUR at 1.0842");
    await page.reload();
    await expectEventually(() => row(DAY), [2, day.totalValue], "with the rate: the API's exact total");
    assert.equal(await valueCell.getAttribute("title"), null, "a known value needs no explanation");
    await expectEventually(async () => (await readGrid(page)).alpha.revenue, day.totalValue, "the grid's exact total");
  });
});
