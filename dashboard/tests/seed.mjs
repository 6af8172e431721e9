// The suite's data, logged through the REST API as an integrator would, so every figure the
// dashboard shows has a known answer.
//
// lead_gen creates contacts 2001–2012 and sends 2001–2007 to alpha, 2008–2012 to beta (all
// received "now"). Recent conversions (converted_at relative to now, all within the last
// three days):
//
// | ws    | contact | type        | value    | converted_at |
// |-------|---------|-------------|----------|--------------|
// | alpha | 2001    | sale        | 25000.00 | now − 1 h    |
// | alpha | 2002    | appointment | —        | now − 2 h    |
// | alpha | 2002    | sale        | 18500.50 | now − 26 h   |
// | alpha | 2003    | qualified   | —        | now − 50 h   |
// | alpha | 2004    | sale        | 32000.00 | now − 3 h    |
// | beta  | 2008    | appointment | 150.03   | now − 4 h    |
// | beta  | 2009    | sale        | 12000.00 | now − 5 h    |
// | beta  | 2009    | demo_booked | —        | now − 30 h   |
//
// One older sale (alpha, 2007, 999.99, now − 40 days) falls in the previous 30-day period.
// PATCHed statuses: 2010 qualified (beta), 2011 appointment (beta), 2005 lost (alpha).
//
// The DST week: the US went to daylight time on Sunday 2024-03-10 (02:00 EST → 03:00 EDT).
// Alpha's contact 2006 has six sales there; by local day in America/New_York they fall on
// 03-05 (50), 03-09 (100), 03-10 (200 + 300), 03-11 (400), 03-16 (60), while by UTC day on
// 03-05 (50), 03-10 (100 + 200), 03-11 (300 + 400), 03-16 (60). See DST_EXPECTED.

import { Api } from "./harness.mjs";

const HOUR = 3_600_000;

export const DST_SALES = [
  ["2024-03-05T12:00:00Z", "50.00"],
  ["2024-03-10T04:30:00Z", "100.00"], // 2024-03-09 23:30 EST
  ["2024-03-10T05:30:00Z", "200.00"], // 2024-03-10 00:30 EST
  ["2024-03-11T03:30:00Z", "300.00"], // 2024-03-10 23:30 EDT (a 23-hour day)
  ["2024-03-11T04:30:00Z", "400.00"], // 2024-03-11 00:30 EDT
  ["2024-03-16T12:00:00Z", "60.00"],
];

/** The DST fortnight's daily buckets, by zone: period → [conversions, total value]. */
export const DST_EXPECTED = {
  "America/New_York": {
    "2024-03-05": [1, "50.00"],
    "2024-03-09": [1, "100.00"],
    "2024-03-10": [2, "500.00"],
    "2024-03-11": [1, "400.00"],
    "2024-03-16": [1, "60.00"],
  },
  UTC: {
    "2024-03-05": [1, "50.00"],
    "2024-03-10": [2, "300.00"],
    "2024-03-11": [2, "700.00"],
    "2024-03-16": [1, "60.00"],
  },
};
export const DST_FROM = "2024-03-04";
export const DST_TO = "2024-03-17";

/**
 * Seeds the data above; returns the workspaces' credentials and the admin client.
 * @param {string} base the server's address
 */
export async function seed(base) {
  const admin = new Api(base);
  const ws = {};
  for (const id of ["lead_gen", "alpha", "beta"]) {
    const body = await admin.rest(
      "POST",
      "/workspaces/register",
      { workspace_id: id, workspace_name: `${id} team`, permissions: ["read", "update", "convert"] },
      201,
    );
    ws[id] = { key: body.api_key, api: admin.as({ workspaceId: id, apiKey: body.api_key }) };
  }
  for (let id = 2001; id <= 2012; id++) {
    await ws.lead_gen.api.rest("POST", "/contacts", { id, name: `Contact ${id}` }, 201);
    const to = id <= 2007 ? "alpha" : "beta";
    await ws.lead_gen.api.rest("POST", `/contacts/${id}/send`, { to_workspace_id: to });
  }
  const now = Date.now();
  const at = (msAgo) => new Date(now - msAgo).toISOString();
  const recent = [
    ["alpha", 2001, "sale", "25000.00", at(1 * HOUR)],
    ["alpha", 2002, "appointment", null, at(2 * HOUR)],
    ["alpha", 2002, "sale", "18500.50", at(26 * HOUR)],
    ["alpha", 2003, "qualified", null, at(50 * HOUR)],
    ["alpha", 2004, "sale", "32000.00", at(3 * HOUR)],
    ["beta", 2008, "appointment", "150.03", at(4 * HOUR)],
    ["beta", 2009, "sale", "12000.00", at(5 * HOUR)],
    ["beta", 2009, "demo_booked", null, at(30 * HOUR)],
    ["alpha", 2007, "sale", "999.99", at(40 * 24 * HOUR)],
  ];
  const conversions = [];
  for (const [w, contact, type, value, when] of recent) {
    conversions.push(await logConversion(ws[w].api, contact, type, value, when));
  }
  for (const [when, value] of DST_SALES) {
    conversions.push(await logConversion(ws.alpha.api, 2006, "sale", value, when));
  }
  await ws.beta.api.rest("PATCH", "/contacts/2010/conversion", { conversion_status: "qualified" });
  await ws.beta.api.rest("PATCH", "/contacts/2011/conversion", { conversion_status: "appointment" });
  await ws.alpha.api.rest("PATCH", "/contacts/2005/conversion", { conversion_status: "lost" });
  return { admin, ws, conversions };
}

/** `POST /conversions/log` as a workspace; returns the stored conversion. */
export async function logConversion(api, contactId, type, value, convertedAt) {
  const body = { contact_id: contactId, converted_by: "agent", conversion_type: type };
  if (value !== null && value !== undefined) body.conversion_value = value;
  if (convertedAt) body.converted_at = convertedAt;
  return api.rest("POST", "/conversions/log", body, 201);
}

export const ANALYTICS_QUERY = `query Analytics($filter: AnalyticsFilter) {
  conversionAnalytics(filter: $filter) {
    timeZone currency
    summary { totalConversions conversionRate averageValue totalValue contactsReceived }
    funnel { stage count percent }
    byWorkspace { workspaceId contactsReceived conversions conversionRate totalValue averageValue }
    trends { daily { period conversions totalValue } weekly { period conversions totalValue } monthly { period conversions totalValue } }
  }
}`;
