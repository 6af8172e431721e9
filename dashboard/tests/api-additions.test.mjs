// The API additions of issue 9 that the dashboard codes against (contract: totalCount,
// ConversionFilter.createdAfter, contacts(filter:), serviceInfo) and the export endpoint,
// cross-checked against the GraphQL answers on the seeded data.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "./harness.mjs";
import { seed, logConversion, DST_FROM, DST_TO } from "./seed.mjs";
import { parseCsv, readXlsxRows, allConversions, assertSameRows, assertSameXlsxRows, CONVERSIONS } from "./rows.mjs";

let server;
let fixture;

before(async () => {
  server = await startServer();
  fixture = await seed(server.base);
});

after(async () => {
  await server?.stop();
});


test("serviceInfo tells the currency, the zones, the week start and the limits", async () => {
  const data = await fixture.admin.graphql(`{ serviceInfo {
    currency defaultTimeZone rollupTimeZones weekStart maxPageSize rateLimitPerHour tokenTtlSeconds
    maxDepth maxComplexity maxAliases maxExportXlsxRows caller { workspaceId isAdmin }
  } }`);
  const info = data.serviceInfo;
  assert.equal(info.currency, "USD");
  assert.equal(info.defaultTimeZone, "UTC");
  assert.deepEqual(info.rollupTimeZones, ["UTC", "America/New_York"]);
  assert.equal(info.maxPageSize, 200);
  assert.equal(info.maxExportXlsxRows, 1_048_575);
  assert.deepEqual(info.caller, { workspaceId: null, isAdmin: true });
  const alpha = (await fixture.ws.alpha.api.graphql("{ serviceInfo { caller { workspaceId isAdmin } } }")).serviceInfo;
  assert.deepEqual(alpha.caller, { workspaceId: "alpha", isAdmin: false });
});

test("conversions: totalCount counts every matching row across pages", async () => {
  const filter = { fromDate: DST_FROM, toDate: DST_TO, timeZone: "UTC" };
  const first = (await fixture.admin.graphql(CONVERSIONS, { filter, first: 2 })).conversions;
  assert.equal(first.totalCount, 6);
  assert.equal(first.nodes.length, 2);
  const all = await allConversions(fixture.admin, {});
  assert.equal(all.totalCount, fixture.conversions.length);
  assert.equal(all.rows.length, fixture.conversions.length);
});

test("conversions: createdAfter returns only what was stored after the instant", async () => {
  const before = new Date().toISOString();
  await new Promise((r) => setTimeout(r, 20));
  const late = await logConversion(fixture.ws.beta.api, 2012, "sale", "77.70", null);
  const { rows } = await allConversions(fixture.admin, { createdAfter: before });
  assert.deepEqual(rows.map((r) => r.id), [late.id]);
});

test("contacts(filter:) by reached stage matches the funnel's counts", async () => {
  const today = new Date().toISOString().slice(0, 10);
  const analytics = await fixture.admin.graphql(
    `query($f: AnalyticsFilter) { conversionAnalytics(filter: $f) { funnel { stage count } } }`,
    { f: { fromDate: today, toDate: today, timeZone: "UTC", workspaceId: "alpha" } },
  );
  const stageName = { leads_received: "LEADS_RECEIVED", qualified: "QUALIFIED", appointments: "APPOINTMENTS", conversions: "CONVERSIONS" };
  for (const { stage, count } of analytics.conversionAnalytics.funnel) {
    const data = await fixture.admin.graphql(
      `query($f: ContactFilter) { contacts(first: 200, filter: $f) { totalCount nodes { id } } }`,
      { f: { workspaceId: "alpha", receivedFrom: today, receivedTo: today, timeZone: "UTC", reachedStage: stageName[stage] } },
    );
    assert.equal(data.contacts.totalCount, count, `contacts that reached ${stage}`);
    assert.equal(data.contacts.nodes.length, count, `nodes listed for ${stage}`);
  }
});

test("GET /conversions/export CSV and xlsx hold exactly the API's rows", async () => {
  const filter = { fromDate: DST_FROM, toDate: DST_TO, timeZone: "America/New_York" };
  const { rows } = await allConversions(fixture.admin, filter);
  const query = `from_date=${DST_FROM}&to_date=${DST_TO}&time_zone=America/New_York`;
  const csv = await fixture.admin.request("GET", `/conversions/export?format=csv&${query}`);
  assert.equal(csv.status, 200, await csv.clone().text());
  assert.match(csv.headers.get("content-disposition") ?? "", /attachment; filename="convio-conversions_.*\.csv"/);
  const table = parseCsv(await csv.text());
  assertSameRows(table, rows);
  const xlsx = await fixture.admin.request("GET", `/conversions/export?format=xlsx&${query}`);
  assert.equal(xlsx.status, 200);
  const sheet = readXlsxRows(Buffer.from(await xlsx.arrayBuffer()));
  assertSameXlsxRows(sheet, rows, "America/New_York");
});
