// GraphiQL at /graphiql renders with no other host reachable (every off-host request fails the
// test), introspects at the default limits with the key in its Headers editor, and its docs
// explorer lists `conversionAnalytics`.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, guardedContext, assertClean, screenshot, ADMIN_KEY, eventually } from "./harness.mjs";
import { seed, logConversion } from "./seed.mjs";

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

test("GraphiQL renders offline and its docs explorer lists conversionAnalytics", async () => {
  const guard = await guardedContext(browser);
  const page = await guard.context.newPage();
  try {
    await page.goto(`${server.base}/graphiql`);
    await page.locator(".graphiql-container").waitFor({ timeout: 10_000 });
    await setHeaders(page, { Authorization: `Bearer ${ADMIN_KEY}` });
    await page.getByRole("button", { name: /re-fetch graphql schema/i }).click();
    await page.getByRole("button", { name: /show documentation explorer/i }).click();
    const docs = page.locator(".graphiql-doc-explorer");
    await docs.getByRole("button", { name: "Query" }).or(docs.getByText("Query", { exact: true })).first().click({ timeout: 10_000 });
    await docs.getByText("conversionAnalytics", { exact: true }).first().waitFor({ timeout: 10_000 });
    // Running the default query answers from the server, not an error page.
    await page.getByRole("button", { name: /execute query/i }).click();
    await eventually(
      async () => /totalConversions/.test(await page.locator(".graphiql-response").innerText()),
      "the default query's answer in the result pane",
      10_000,
    );
    await screenshot(page, "graphiql-docs");
    // GraphiQL's history must not keep the pasted key (it lands in localStorage otherwise).
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
    assert.ok(!stored.includes(ADMIN_KEY), "the key is in neither localStorage nor sessionStorage");
    assertClean(guard);
  } finally {
    await guard.context.close();
  }
});

test("a subscription runs from GraphiQL with the Headers as connection_init", async () => {
  const guard = await guardedContext(browser);
  const page = await guard.context.newPage();
  try {
    await page.goto(`${server.base}/graphiql`);
    await page.locator(".graphiql-container").waitFor({ timeout: 10_000 });
    await setHeaders(page, { Authorization: `Bearer ${ADMIN_KEY}` });
    await page.evaluate(() => {
      const query = document.querySelector(".graphiql-query-editor .CodeMirror");
      query.CodeMirror.setValue("subscription { conversionFeed { conversion { id conversionValue } } }");
    });
    // GraphiQL picks the operation name from the editor after a short debounce; executing at
    // once would still ask for the previous document's "Overview".
    await page.waitForTimeout(600);
    await page.getByRole("button", { name: /execute query/i }).click();
    const response = page.locator(".graphiql-response");
    // The subscription is live once the server counts it; log until one arrives.
    let logged;
    await eventually(async () => {
      logged = await logConversion(fixture.ws.beta.api, 2012, "sale", "31.41", null);
      return (await response.innerText()).includes(logged.id);
    }, "a logged conversion in GraphiQL's result pane", 10_000, 500);
    assert.match(await response.innerText(), /31\.41/);
    await screenshot(page, "graphiql-subscription");
    assertClean(guard);
  } finally {
    await guard.context.close();
  }
});

/** Puts `headers` into GraphiQL's Headers editor (CodeMirror 5 keeps its editor on the wrapper). */
async function setHeaders(page, headers) {
  await page.getByText("Headers", { exact: true }).click();
  await page.evaluate((value) => {
    // GraphiQL 3 renders the Variables editor, then the Headers editor; the inactive one is `.hidden`.
    const editors = [...document.querySelectorAll(".graphiql-editor-tool .graphiql-editor")];
    const shown = editors.filter((e) => !e.classList.contains("hidden"));
    if (editors.length !== 2 || shown.length !== 1 || shown[0] !== editors[1]) {
      throw new Error(`expected the Headers editor shown: ${editors.map((e) => e.className)}`);
    }
    shown[0].querySelector(".CodeMirror").CodeMirror.setValue(value);
  }, JSON.stringify(headers));
}
