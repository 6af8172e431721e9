// The REST reference at /docs (Swagger UI over /openapi.json) renders with no other host
// reachable (every off-host request and CSP violation fails the test), lists the plan's
// endpoints and their problem responses, and "Try it out" reaches this server with the key
// given to "Authorize".

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, guardedContext, assertClean, screenshot, ADMIN_KEY, eventually } from "./harness.mjs";

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("/docs renders the REST contract offline, and Try it out calls this server", async () => {
  const guard = await guardedContext(browser);
  const page = await guard.context.newPage();
  try {
    const response = await page.goto(`${server.base}/docs`);
    assert.match(response.headers()["content-security-policy"], /default-src 'self'/);
    const log = page.locator("#operations-conversions-logConversion");
    await log.waitFor({ timeout: 15_000 });
    assert.match(await log.innerText(), /\/conversions\/log/);
    for (const id of ["conversions-listConversions", "contacts-updateContactConversion", "workspaces-issueToken"]) {
      await page.locator(`#operations-${id}`).waitFor({ timeout: 5_000 });
    }
    await screenshot(page, "docs");

    // Authorize with the admin key as X-API-Key (the first scheme), then run GET /audit.
    await page.locator("button.authorize").first().click();
    const dialog = page.locator(".dialog-ux");
    await dialog.locator("input").first().fill(ADMIN_KEY);
    await dialog.locator("button.authorize").first().click();
    await dialog.locator("button.btn-done").first().click();
    const audit = page.locator("#operations-audit-listAuditEntries");
    await audit.locator(".opblock-summary").click();
    await audit.getByRole("button", { name: /try it out/i }).click();
    await audit.getByRole("button", { name: /execute/i }).click();
    await eventually(
      async () => /"entries"/.test(await audit.locator(".responses-wrapper").innerText()),
      "GET /audit's answer in the page",
      10_000,
    );
    assert.match(await audit.locator(".responses-wrapper").innerText(), /\b200\b/);
    await screenshot(page, "docs-try-it-out");
    assertClean(guard);
  } finally {
    await guard.context.close();
  }
});
