// Reading the dashboard the way the contract names it (roles, labels, data-testid, data-value,
// data-count), so the tests compare exact API values, never formatted text.

import assert from "node:assert/strict";
import { ADMIN_KEY, eventually } from "./harness.mjs";

/** Opens /dashboard<search> and signs in with `key` when the sign-in form is shown. */
export async function openDashboard(page, base, search = "", key = ADMIN_KEY) {
  await page.goto(`${base}/dashboard${search}`);
  await signInIfAsked(page, key);
}

/** Signs in when the form is there (a reload may or may not keep the session). */
export async function signInIfAsked(page, key = ADMIN_KEY) {
  const signOut = page.getByRole("button", { name: "Sign out" });
  const keyField = page.getByLabel("API key");
  await signOut.or(keyField).first().waitFor({ timeout: 10_000 });
  if (await keyField.isVisible()) {
    await keyField.fill(key);
    await page.getByRole("button", { name: "Sign in" }).click();
  }
  await signOut.waitFor({ timeout: 10_000 });
}

export const TILE_KEYS = ["total-conversions", "conversion-rate", "average-value", "total-value", "contacts-received"];

/** The tiles' exact values: key → data-value. */
export async function readTiles(page) {
  const out = {};
  for (const key of TILE_KEYS) {
    out[key] = await page.getByTestId(`tile-${key}`).getByTestId("value").getAttribute("data-value", { timeout: 10_000 });
  }
  return out;
}

/** What the tiles must hold for an analytics `summary` (numbers as the API gives them). */
export function expectedTiles(summary) {
  const text = (v) => (v === null || v === undefined ? "" : String(v));
  return {
    "total-conversions": text(summary.totalConversions),
    "conversion-rate": text(summary.conversionRate),
    "average-value": text(summary.averageValue),
    "total-value": text(summary.totalValue),
    "contacts-received": text(summary.contactsReceived),
  };
}

/** The funnel: stage → data-count. */
export async function readFunnel(page) {
  const out = {};
  for (const stage of ["leads_received", "qualified", "appointments", "conversions"]) {
    out[stage] = await page.getByTestId(`funnel-${stage}`).getAttribute("data-count", { timeout: 10_000 });
  }
  return out;
}

/** A table (found by caption) as rows of { header → data-value or text }, keyed by `rowKey` attribute. */
export async function readTable(page, caption, rowAttribute) {
  const table = page.getByRole("table", { name: caption, exact: true });
  await table.waitFor({ timeout: 10_000 });
  return table.evaluate((el, attr) => {
    const headers = [...el.querySelectorAll("thead th")].map((th) => th.textContent.replace(/[▲▼]/g, "").trim());
    const rows = {};
    for (const tr of el.querySelectorAll(`tbody tr[${attr}]`)) {
      const cells = [...tr.children];
      const row = {};
      cells.forEach((cell, i) => {
        // A repeated header (the comparison period's "Conversions") keeps its first column.
        const name = headers[i] ?? `#${i}`;
        if (name in row) return;
        row[name] = cell.hasAttribute("data-value") ? cell.getAttribute("data-value") : cell.textContent.trim();
      });
      rows[tr.getAttribute(attr)] = row;
    }
    return { headers, rows };
  }, rowAttribute);
}

/** The workspace grid: id → { contacts, conversions, rate, revenue, average } (exact values). */
export async function readGrid(page) {
  const { rows } = await readTable(page, "Workspace performance", "data-workspace-id");
  const out = {};
  for (const [id, r] of Object.entries(rows)) {
    out[id] = { contacts: r.Contacts, conversions: r.Conversions, rate: r["Conv. rate"] ?? r.Rate, revenue: r.Revenue, average: r.Average };
  }
  return out;
}

/** What the grid must hold for analytics `byWorkspace`. */
export function expectedGrid(byWorkspace) {
  const text = (v) => (v === null || v === undefined ? "" : String(v));
  const out = {};
  for (const w of byWorkspace) {
    out[w.workspaceId] = {
      contacts: text(w.contactsReceived),
      conversions: text(w.conversions),
      rate: text(w.conversionRate),
      revenue: text(w.totalValue),
      average: text(w.averageValue),
    };
  }
  return out;
}

/** The timeline's table alternative: period → [conversions, value] (exact), and its headers. */
export async function readTimeline(page) {
  const { headers, rows } = await readTable(page, "Timeline data", "data-period");
  const out = {};
  for (const [period, r] of Object.entries(rows)) out[period] = [Number(r.Conversions), r.Value];
  return { headers, buckets: out };
}

/** Polls `read` until it deep-equals `expected`, then asserts (so a mismatch shows a diff). */
export async function expectEventually(read, expected, what, timeoutMs = 10_000) {
  let actual;
  try {
    await eventually(async () => {
      actual = await read();
      return JSON.stringify(actual) === JSON.stringify(expected);
    }, what, timeoutMs);
  } catch {
    // fall through to the assertion below for a readable diff
  }
  assert.deepEqual(actual, expected, what);
}

/** Numbers as decimal text compare exactly, but `45.5` and `45.50` are one value. */
export function sameDecimal(a, b) {
  return a === b || (a !== "" && b !== "" && Number(a) === Number(b));
}
