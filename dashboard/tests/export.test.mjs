// The export buttons: the files the browser downloads for the current view hold exactly the
// rows the GraphQL API lists for the same filter (CSV parsed here; .xlsx unzipped and its
// sheet1.xml read by rows.mjs).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { startServer, launchBrowser, guardedContext, assertClean } from "./harness.mjs";
import { seed, DST_FROM, DST_TO } from "./seed.mjs";
import { openDashboard } from "./ui.mjs";
import { allConversions, assertSameRows, assertSameXlsxRows, parseCsv, readXlsxRows } from "./rows.mjs";

let server;
let browser;
let fixture;
const ZONE = "America/New_York";
const VIEW = `?from=${DST_FROM}&to=${DST_TO}&tz=${ZONE}&ws=alpha`;

before(async () => {
  server = await startServer();
  fixture = await seed(server.base);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function download(page, button) {
  const [file] = await Promise.all([
    page.waitForEvent("download", { timeout: 10_000 }),
    page.getByRole("button", { name: button, exact: true }).click(),
  ]);
  return { name: file.suggestedFilename(), bytes: await readFile(await file.path()) };
}

test("the CSV, CSV for Excel and .xlsx downloads hold exactly the API's rows", async () => {
  const { rows } = await allConversions(fixture.admin, { fromDate: DST_FROM, toDate: DST_TO, timeZone: ZONE, workspaceId: "alpha" });
  assert.equal(rows.length, 6, "the six DST-week sales");
  const guard = await guardedContext(browser);
  const page = await guard.context.newPage();
  try {
    await openDashboard(page, server.base, VIEW);
    await page.getByTestId("tile-total-conversions").getByTestId("value").waitFor();

    const csv = await download(page, "Export CSV");
    assert.match(csv.name, /^convio-conversions_.*\.csv$/);
    assert.ok(csv.name.includes(DST_FROM) && csv.name.includes(DST_TO), `the file name carries the range: ${csv.name}`);
    const csvText = csv.bytes.toString("utf8");
    assert.notEqual(csvText.charCodeAt(0), 0xfeff, "plain CSV has no byte-order mark");
    const table = parseCsv(csvText);
    assertSameRows(table, rows);
    // converted_at is in the view's zone, with its offset: EST before the change, EDT after.
    const at = new Map(table.slice(1).map((r) => [r[0], r[1]]));
    const offsets = rows.map((r) => at.get(r.id).slice(-6)).sort();
    assert.deepEqual([...new Set(offsets)], ["-04:00", "-05:00"], `New York offsets: ${[...at.values()]}`);

    const excel = await download(page, "Export CSV for Excel");
    assert.deepEqual([...excel.bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], "UTF-8 byte-order mark");
    assert.ok(excel.bytes.toString("utf8").includes("\r\n"), "CRLF line ends");
    assertSameRows(parseCsv(excel.bytes.toString("utf8")), rows);

    const xlsx = await download(page, "Export Excel");
    assert.match(xlsx.name, /\.xlsx$/);
    assertSameXlsxRows(readXlsxRows(xlsx.bytes), rows, ZONE);
    assertClean(guard);
  } finally {
    await guard.context.close();
  }
});
