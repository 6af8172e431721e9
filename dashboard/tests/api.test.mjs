// API-level checks the dashboard and GraphiQL rely on, against the real binary: the seeded
// figures (so the browser tests compare against answers known to be right), the standard
// introspection query at default limits, and the headers the pages are served with.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { getIntrospectionQuery } from "graphql";
import { startServer, Api, ADMIN_KEY } from "./harness.mjs";
import { seed, ANALYTICS_QUERY, DST_EXPECTED, DST_FROM, DST_TO } from "./seed.mjs";

const CSP =
  "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; object-src 'none'; " +
  "base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

let server;
let fixture;

before(async () => {
  server = await startServer();
  fixture = await seed(server.base);
});

after(async () => {
  await server?.stop();
});

test("DST week: daily buckets in America/New_York and UTC are the hand-computed ones", async () => {
  for (const [zone, expected] of Object.entries(DST_EXPECTED)) {
    const data = await fixture.admin.graphql(ANALYTICS_QUERY, {
      filter: { fromDate: DST_FROM, toDate: DST_TO, timeZone: zone },
    });
    const daily = Object.fromEntries(
      data.conversionAnalytics.trends.daily.map((p) => [p.period, [p.conversions, String(p.totalValue)]]),
    );
    assert.deepEqual(daily, expected, `daily buckets in ${zone}`);
  }
});

test("the standard graphql-js introspection query succeeds at the default limits", async () => {
  const data = await fixture.admin.graphql(getIntrospectionQuery());
  const queryType = data.__schema.types.find((t) => t.name === data.__schema.queryType.name);
  assert.ok(queryType.fields.some((f) => f.name === "conversionAnalytics"), "Query.conversionAnalytics listed");
});

test("a deep non-introspection query is still refused", async () => {
  let selection = "id";
  for (let i = 0; i < 10; i++) selection = `contact { conversions(first: 1) { nodes { ${selection} } } }`;
  const body = await fixture.admin.graphqlRaw(`{ conversions(first: 1) { nodes { ${selection} } } }`);
  assert.ok(body.errors?.length, `deep query answered without errors: ${JSON.stringify(body).slice(0, 300)}`);
  assert.match(body.errors[0].message, /nested too deep/);
});

test("/dashboard and its assets: CSP, nosniff, no-referrer, ETag, gzip, immutable hashed assets", async () => {
  const page = await fetch(`${server.base}/dashboard`);
  assert.equal(page.status, 200);
  assert.equal(page.headers.get("content-security-policy"), CSP);
  assert.equal(page.headers.get("x-content-type-options"), "nosniff");
  assert.equal(page.headers.get("referrer-policy"), "no-referrer");
  assert.match(page.headers.get("cache-control") ?? "", /no-cache/);
  const html = await page.text();
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, "no inline script");
  assert.doesNotMatch(html, /<style/i, "no inline style element");
  assert.doesNotMatch(html, /\sstyle=/i, "no style attribute");
  const assets = [...html.matchAll(/(?:src|href)="(\/dashboard\/assets\/[^"]+)"/g)].map((m) => m[1]);
  assert.ok(assets.length >= 1, `the page references hashed assets: ${html}`);
  for (const asset of assets) {
    const response = await fetch(server.base + asset, { headers: { "accept-encoding": "gzip" } });
    assert.equal(response.status, 200, asset);
    assert.equal(response.headers.get("cache-control"), "public, max-age=31536000, immutable", asset);
    assert.equal(response.headers.get("content-encoding"), "gzip", `${asset} gzipped on request`);
    const etag = response.headers.get("etag");
    assert.ok(etag, `${asset} has an ETag`);
    await response.arrayBuffer();
    const again = await fetch(server.base + asset, { headers: { "if-none-match": etag, "accept-encoding": "gzip" } });
    assert.equal(again.status, 304, `${asset} with If-None-Match`);
  }
});

test("/graphiql is served with a CSP and only same-origin assets; absent with --production true", async () => {
  const page = await fetch(`${server.base}/graphiql`);
  assert.equal(page.status, 200);
  const csp = page.headers.get("content-security-policy") ?? "";
  assert.match(csp, /default-src 'self'/);
  const html = await page.text();
  assert.doesNotMatch(html, /https?:\/\//, "no absolute URL in the GraphiQL page");
  const production = await startServer(["--production", "true"]);
  try {
    assert.equal((await fetch(`${production.base}/graphiql`)).status, 404, "no GraphiQL in production");
    const dashboard = await fetch(`${production.base}/dashboard`);
    assert.equal(dashboard.status, 200, "the dashboard stays on in production");
  } finally {
    await production.stop();
  }
});

test("POST /auth/token exchanges the admin key for a JWT that GraphQL accepts", async () => {
  const token = await fixture.admin.rest("POST", "/auth/token");
  assert.ok(token.access_token);
  const data = await new Api(server.base, { bearer: token.access_token }).graphql("{ workspaces { id } }");
  assert.deepEqual(data.workspaces.map((w) => w.id).sort(), ["alpha", "beta", "lead_gen"]);
  assert.notEqual(token.access_token, ADMIN_KEY);
});
