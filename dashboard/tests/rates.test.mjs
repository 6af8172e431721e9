// A bucket whose value the API cannot total (a conversion in a currency without a rate into the
// reporting currency: `totalValue` null) reads "—" in the timeline, never 0; once the rate is set
// it reads the API's exact total. Its own server, so the seeded figures of other files stay put.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, withGuardedPage, localDate, Api } from "./harness.mjs";
import { openDashboard, readTimeline, expectEventually } from "./ui.mjs";

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
  for (const id of ["lead_gen", "alpha"]) {
    const body = await admin.rest("POST", "/workspaces/register", {
      workspace_id: id, workspace_name: `${id} team`, permissions: ["read", "update", "convert"],
    }, 201);
    keys[id] = admin.as({ workspaceId: id, apiKey: body.api_key });
  }
  await keys.lead_gen.rest("POST", "/contacts", { id: 3001, name: "Contact 3001" }, 201);
  await keys.lead_gen.rest("POST", "/contacts/3001/send", { to_workspace_id: "alpha" });
  const at = `${DAY}T12:00:00Z`;
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

    await admin.rest("PUT", "/exchange-rates", {
      base: "EUR", quote: "USD", rate: "1.0842", effective_date: "2020-01-01",
    });
    const day = await apiDay();
    assert.equal(day.totalValue, "154.21", "100.00 USD + 50.00 EUR at 1.0842");
    await page.reload();
    await expectEventually(() => row(DAY), [2, day.totalValue], "with the rate: the API's exact total");
  });
});
