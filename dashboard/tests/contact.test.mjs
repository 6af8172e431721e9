// The contact view (§4.6) renders custom_metadata by value type — a score as a meter, an
// array as chips, an ISO date as a date, a nested object as a tree, a `secret_` value masked
// for a read-only caller as "hidden" — and its raw-JSON toggle shows exactly the API's JSON.
// This server lists America/New_York first, so it is also the view's default time zone.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, guardedContext, assertClean, screenshot, Api, SCREENSHOTS } from "./harness.mjs";
import { openDashboard } from "./ui.mjs";

const SECRET = "123-45-6789";
let server;
let browser;
let viewer;
let source;

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
  source = await register("lead_gen", ["read", "update", "convert"]);
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
  // Hostile metadata: a 4,000-character word, 200 chips, a 7-deep tree (the API allows 8), an impossible date, a U+202E.
  let deep = { leaf: "bottom" };
  for (let i = 0; i < 6; i++) deep = { [`level_${i}_with_a_long_key_name`]: deep };
  await source.api.rest("POST", "/contacts", {
    id: 3002,
    name: "Hostile Person",
    custom_metadata: {
      long_word: "x".repeat(4000),
      chips: Array.from({ length: 200 }, (_, i) => `chip-${i}-${"y".repeat(30)}`),
      deep,
      bad_date: "2026-02-30",
      good_date: "2024-02-29",
      ["evil\u202Ekey"]: "\u202Ereversed",
      after_evil: "plain",
      empty: {},
      secret_ssn: SECRET,
    },
  }, 201);
  await source.api.rest("POST", "/contacts/3002/send", { to_workspace_id: "viewer" });
  await source.api.rest("POST", "/conversions/log", { contact_id: 3002, converted_by: "agent", conversion_type: "sale", conversion_value: "10.00" }, 201);
  await source.api.rest("POST", "/contacts", { id: 3003, name: "Empty Person", custom_metadata: {} }, 201);
  await source.api.rest("POST", "/contacts/3003/send", { to_workspace_id: "viewer" });
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

test("hostile metadata stays in the card: wraps, +N more, deep tree, raw bad date, isolated bidi, no sideways scroll at 375 px", async () => {
  const api = (await viewer.api.graphql(`{ contact(id: "3002") { conversionCount conversions(first: 200) { totalCount } } }`)).contact;
  for (const [name, viewport] of [["desktop", { width: 1280, height: 900 }], ["375", { width: 375, height: 800 }]]) {
    const guard = await guardedContext(browser, { viewport });
    const page = await guard.context.newPage();
    try {
      await openDashboard(page, server.base, "?contact=3002", viewer.key);
      const card = page.getByRole("region", { name: "Contact" });
      await card.getByText("Hostile Person").first().waitFor({ timeout: 10_000 });
      const chips = card.getByRole("list", { name: "Chips" }).getByRole("listitem");
      assert.equal(await chips.count(), 12, "only the first 12 chips before the toggle");
      await card.getByRole("button", { name: "+188 more" }).click();
      assert.equal(await chips.count(), 200, "all 200 after +N more");
      await card.getByText("bottom", { exact: true }).waitFor();
      assert.equal(await card.locator('time[datetime="2026-02-30"]').count(), 0, "an impossible date is not a date");
      await card.getByText("2026-02-30", { exact: true }).waitFor();
      assert.equal(await card.locator('time[datetime="2024-02-29"]').count(), 1, "a real leap day is a date");
      await card.getByText("Ssn (secret)", { exact: true }).waitFor();
      await card.getByText("{} (empty object)").waitFor();
      const isolated = await card.locator('[data-key="after_evil"]').evaluate(() =>
        [...document.querySelectorAll("#contact .meta-row")].filter((r) => r.textContent.includes("\u202E"))
          .every((r) => [...r.querySelectorAll("dt, dd")].every((c) => {
            const b = c.querySelector("bdi");
            return b && getComputedStyle(b).unicodeBidi === "isolate";
          })));
      assert.ok(isolated, "keys and values with U+202E are direction-isolated");
      if (api.conversions.totalCount < api.conversionCount) {
        assert.match(await card.getByTestId("conversions-partial").innerText(),
          new RegExp(`${api.conversions.totalCount} of ${api.conversionCount} conversions are yours`));
      }
      const widths = await page.evaluate(() => {
        const card = document.getElementById("contact").getBoundingClientRect();
        return { doc: document.documentElement.scrollWidth, win: window.innerWidth, cardRight: card.right };
      });
      assert.ok(widths.doc <= widths.win, `no horizontal page scroll (${widths.doc} > ${widths.win})`);
      assert.ok(widths.cardRight <= widths.win, "the card stays within the viewport");
      await screenshot(page, `contact-hostile-${name}`);
      await card.getByRole("button", { name: "Show fewer" }).click();
      await page.evaluate(() => document.getElementById("contact").scrollIntoView());
      await page.screenshot({ path: `${SCREENSHOTS}/contact-hostile-${name}-viewport.png` });
      assertClean(guard);
    } finally {
      await guard.context.close();
    }
  }
  // The source's sale on 3002 is not the viewer's: a receiver's count is made of its own
  // conversions (docs/api.md, "Shared contacts"), so it matches the list it can read.
  assert.equal(api.conversionCount, api.conversions.totalCount, "a receiver's count is its own conversions (API)");
});

test("an empty metadata object says so", async () => {
  const guard = await guardedContext(browser);
  const page = await guard.context.newPage();
  try {
    await openDashboard(page, server.base, "?contact=3003", viewer.key);
    const card = page.getByRole("region", { name: "Contact" });
    await card.getByText("{} (empty object)").waitFor({ timeout: 10_000 });
    assert.equal(await card.getByText("No metadata.").count(), 0);
    assertClean(guard);
  } finally {
    await guard.context.close();
  }
});

test("a contact's conversions are paged 25 at a time, totalCount from the API", async () => {
  await source.api.rest("POST", "/contacts", { id: 3004, name: "Busy Person" }, 201);
  for (let i = 0; i < 30; i++) {
    await source.api.rest("POST", "/conversions/log", {
      contact_id: 3004, converted_by: "agent", conversion_type: "sale", conversion_value: `${i + 1}.00`,
    }, 201);
  }
  const guard = await guardedContext(browser);
  const page = await guard.context.newPage();
  try {
    await openDashboard(page, server.base, "?contact=3004", source.key);
    const card = page.getByRole("region", { name: "Contact" });
    const total = card.getByTestId("contact-conversions-total");
    await total.waitFor({ timeout: 10_000 });
    assert.equal(await total.getAttribute("data-value"), "30");
    const rows = card.locator("tr[data-conversion-id]");
    assert.equal(await rows.count(), 25);
    await card.getByRole("button", { name: "Next page" }).click();
    await page.waitForFunction(() => document.querySelectorAll("#contact tr[data-conversion-id]").length === 5);
    assert.match(await total.innerText(), /Showing 26–30 of 30/);
    assertClean(guard);
  } finally {
    await guard.context.close();
  }
});
