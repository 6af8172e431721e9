// The contact view (§4.6) renders custom_metadata by value type — a score as a meter, an
// array as chips, an ISO date as a date, a nested object as a tree, a `secret_` value masked
// for a read-only caller as "hidden" — and its raw-JSON toggle shows exactly the API's JSON.
// This server lists America/New_York first, so it is also the view's default time zone.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, guardedContext, assertClean, screenshot, Api } from "./harness.mjs";
import { openDashboard } from "./ui.mjs";

const SECRET = "123-45-6789";
let server;
let browser;
let viewer;

before(async () => {
  // Secret custom values are refused unless an encryption key is configured.
  // New York first: the dashboard's default zone is the first of --analytics-time-zones.
  server = await startServer(["--encryption-keys", `k1=${Buffer.alloc(32, 7).toString("base64")}`], {
    zones: ["America/New_York", "UTC"],
  });
  const admin = new Api(server.base);
  const register = async (id, permissions) => {
    const body = await admin.rest("POST", "/workspaces/register", { workspace_id: id, workspace_name: `${id} team`, permissions }, 201);
    return { key: body.api_key, api: admin.as({ workspaceId: id, apiKey: body.api_key }) };
  };
  const source = await register("lead_gen", ["read", "update", "convert"]);
  viewer = await register("viewer", ["read"]);
  await source.api.rest("POST", "/contacts", {
    id: 3001,
    name: "Metadata Person",
    custom_metadata: {
      lead_score: 82,
      tags: ["vip", "emea"],
      first_seen: "2024-03-10",
      address: { city: "Lyon", zip: "69001" },
      secret_ssn: SECRET,
    },
  }, 201);
  await source.api.rest("POST", "/contacts/3001/send", { to_workspace_id: "viewer" });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("custom_metadata by type: meter, chips, date, tree, hidden secret, raw JSON", async () => {
  const api = (await viewer.api.graphql(`{ contact(id: "3001") { customMetadata } }`)).contact.customMetadata;
  assert.equal(api.secret_ssn, "***", "the API masks the secret for a read-only key");
  const guard = await guardedContext(browser);
  const page = await guard.context.newPage();
  try {
    await openDashboard(page, server.base, "?contact=3001", viewer.key);
    assert.equal(await page.getByRole("combobox", { name: /^Time zone/ }).inputValue(), "America/New_York", "the first rollup zone is the default");
    const card = page.getByRole("region", { name: "Contact" });
    await card.getByText("Metadata Person").first().waitFor({ timeout: 10_000 });
    assert.equal(await card.getByRole("meter").getAttribute("value"), "82", "the score as a meter");
    assert.deepEqual(await card.getByRole("list", { name: "Tags" }).getByRole("listitem").allInnerTexts(), ["vip", "emea"]);
    const date = card.locator('time[datetime="2024-03-10"]');
    assert.match(await date.innerText(), /March 10, 2024|10 March 2024|2024/, "the ISO date shown as a date");
    await card.getByText("Lyon").waitFor();
    await card.getByText("69001").waitFor();
    await card.getByText("hidden", { exact: true }).waitFor();
    assert.ok(!(await page.content()).includes(SECRET), "the secret is nowhere in the page");
    await screenshot(page, "contact-metadata-light");
    await card.getByRole("button", { name: "Raw JSON" }).click();
    const raw = await card.getByTestId("raw-json").innerText();
    assert.deepEqual(JSON.parse(raw), api, "raw JSON is the API's customMetadata");
    assertClean(guard);
  } finally {
    await guard.context.close();
  }
});
