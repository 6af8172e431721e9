// What the API holds and what the exported files hold, in comparable form: every page of
// `conversions`, a CSV parser (RFC 4180) and an .xlsx reader (unzips the workbook with
// node:zlib and reads sheet1.xml; no dependency for a few dozen lines).

import assert from "node:assert/strict";
import { inflateRawSync } from "node:zlib";

export const CONVERSIONS = `query C($filter: ConversionFilter, $first: Int, $after: String) {
  conversions(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { id convertedAt createdAt workspaceId contactId leadId conversionType conversionValue currency convertedBy customData }
  }
}`;

/** Every conversion matching `filter`, all pages. */
export async function allConversions(api, filter) {
  const rows = [];
  let after = null;
  let totalCount;
  for (;;) {
    const page = (await api.graphql(CONVERSIONS, { filter, first: 200, after })).conversions;
    totalCount = page.totalCount;
    rows.push(...page.nodes);
    if (!page.pageInfo.hasNextPage) break;
    after = page.pageInfo.endCursor;
  }
  return { rows, totalCount };
}


/** Compares an export's rows (header first) with GraphQL conversion nodes. */
export function assertSameRows(table, rows) {
  assert.deepEqual(table[0], [
    "id", "converted_at", "workspace_id", "contact_id", "lead_id", "conversion_type",
    "conversion_value", "currency", "converted_by", "custom_data", "status",
  ]);
  const body = table.slice(1).filter((r) => r.length > 1);
  assert.equal(body.length, rows.length, "one row per conversion");
  const byId = new Map(rows.map((r) => [r.id, r]));
  for (const row of body) {
    const api = byId.get(row[0]);
    assert.ok(api, `exported ${row[0]} is one of the API's rows`);
    assert.equal(Date.parse(row[1]), Date.parse(api.convertedAt), `converted_at of ${row[0]}`);
    assert.equal(row[2], api.workspaceId);
    assert.equal(row[3], String(api.contactId));
    assert.equal(row[5], api.conversionType);
    assert.equal(row[6], api.conversionValue === null ? "" : String(api.conversionValue));
    assert.equal(row[7], api.currency);
    assert.equal(row[8], api.convertedBy);
    assert.equal(row[10], "active");
    byId.delete(row[0]);
  }
  assert.equal(byId.size, 0, "every API row exported once");
}

/** RFC 4180 CSV (quotes, doubled quotes, CRLF or LF, an optional UTF-8 BOM) → rows of cells. */
export function parseCsv(text) {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const rows = [];
  let row = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') {
        quoted = false;
      } else {
        cell += ch;
      }
    } else if (ch === '"') {
      quoted = true;
    } else if (ch === ",") {
      row.push(cell);
      cell = "";
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
    } else {
      cell += ch;
    }
  }
  if (cell !== "" || row.length) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}

/** The files of a zip archive (stored or deflated), by name, from its central directory. */
export function unzip(buffer) {
  let eocd = buffer.length - 22;
  while (eocd >= 0 && buffer.readUInt32LE(eocd) !== 0x06054b50) eocd--;
  assert.ok(eocd >= 0, "a zip archive (end of central directory found)");
  const count = buffer.readUInt16LE(eocd + 10);
  let at = buffer.readUInt32LE(eocd + 16);
  const files = new Map();
  for (let n = 0; n < count; n++) {
    assert.equal(buffer.readUInt32LE(at), 0x02014b50, "central directory entry");
    const method = buffer.readUInt16LE(at + 10);
    const size = buffer.readUInt32LE(at + 20);
    const nameLength = buffer.readUInt16LE(at + 28);
    const extraLength = buffer.readUInt16LE(at + 30);
    const commentLength = buffer.readUInt16LE(at + 32);
    const local = buffer.readUInt32LE(at + 42);
    const name = buffer.toString("utf8", at + 46, at + 46 + nameLength);
    const start = local + 30 + buffer.readUInt16LE(local + 26) + buffer.readUInt16LE(local + 28);
    const raw = buffer.subarray(start, start + size);
    files.set(name, method === 0 ? raw : inflateRawSync(raw));
    at += 46 + nameLength + extraLength + commentLength;
  }
  return files;
}

const decodeXml = (s) =>
  s.replace(/&(lt|gt|amp|quot|apos|#x[0-9a-f]+|#\d+);/gi, (_, e) =>
    ({ lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" })[e] ??
    String.fromCodePoint(e[1].toLowerCase() === "x" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10)));

/** The first worksheet of an .xlsx as rows of cell text (shared and inline strings resolved). */
export function readXlsxRows(buffer) {
  const files = unzip(buffer);
  const sheet = files.get("xl/worksheets/sheet1.xml");
  assert.ok(sheet, `xl/worksheets/sheet1.xml in the workbook (has: ${[...files.keys()].join(", ")})`);
  const shared = [];
  const sst = files.get("xl/sharedStrings.xml");
  if (sst) {
    for (const si of sst.toString("utf8").matchAll(/<si>([\s\S]*?)<\/si>/g)) {
      shared.push(decodeXml([...si[1].matchAll(/<t[^>]*>([\s\S]*?)<\/t>/g)].map((t) => t[1]).join("")));
    }
  }
  const rows = [];
  for (const r of sheet.toString("utf8").matchAll(/<row[^>]*>([\s\S]*?)<\/row>/g)) {
    const row = [];
    for (const c of r[1].matchAll(/<c\b([^>]*?)(?:\/>|>([\s\S]*?)<\/c>)/g)) {
      const attrs = c[1];
      const ref = attrs.match(/\br="([A-Z]+)\d+"/)?.[1];
      const column = ref ? [...ref].reduce((n, ch) => n * 26 + ch.charCodeAt(0) - 64, 0) - 1 : row.length;
      const type = attrs.match(/\bt="(\w+)"/)?.[1];
      const inner = c[2] ?? "";
      let value = inner.match(/<v>([\s\S]*?)<\/v>/)?.[1] ?? "";
      if (type === "s") value = shared[Number(value)];
      else if (type === "inlineStr") value = [...inner.matchAll(/<t[^>]*>([\s\S]*?)<\/t>/g)].map((t) => t[1]).join("");
      row[column] = decodeXml(value ?? "");
    }
    rows.push(Array.from(row, (v) => v ?? ""));
  }
  return rows;
}

/** Wall-clock time of `instant` in `zone` as an Excel serial (days since 1899-12-30). */
function excelSerial(instant, zone) {
  const wall = new Date(instant).toLocaleString("sv-SE", { timeZone: zone, hour12: false }).replace(" ", "T");
  return Date.parse(`${wall}Z`) / 86_400_000 + 25_569;
}

/** UTC offset of `zone` at `instant`, as `-05:00`. */
function offsetAt(instant, zone) {
  const serial = excelSerial(instant, zone);
  const minutes = Math.round((serial - (Date.parse(instant) / 86_400_000 + 25_569)) * 1440);
  const sign = minutes < 0 ? "-" : "+";
  const abs = Math.abs(minutes);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
}

/**
 * Compares an .xlsx export's rows with GraphQL conversion nodes: the CSV's columns (with
 * `converted_at` naming its zone, as a typed date-time of the zone's wall clock) and a
 * `utc_offset` column; values typed as numbers.
 */
export function assertSameXlsxRows(sheet, rows, zone) {
  assert.deepEqual(sheet[0], [
    "id", `converted_at (${zone})`, "workspace_id", "contact_id", "lead_id", "conversion_type",
    "conversion_value", "currency", "converted_by", "custom_data", "status", "utc_offset",
  ]);
  const body = sheet.slice(1);
  assert.equal(body.length, rows.length, "one row per conversion");
  const byId = new Map(rows.map((r) => [r.id, r]));
  for (const row of body) {
    const api = byId.get(row[0]);
    assert.ok(api, `exported ${row[0]} is one of the API's rows`);
    assert.ok(Math.abs(Number(row[1]) - excelSerial(api.convertedAt, zone)) < 1 / 86_400, `converted_at of ${row[0]}: ${row[1]}`);
    assert.equal(row[2], api.workspaceId);
    assert.equal(Number(row[3]), Number(api.contactId));
    assert.equal(row[5], api.conversionType);
    if (api.conversionValue === null) assert.equal(row[6], "");
    else assert.equal(Number(row[6]), Number(api.conversionValue), `value of ${row[0]}`);
    assert.equal(row[7], api.currency);
    assert.equal(row[10], "active");
    assert.equal(row[11], offsetAt(api.convertedAt, zone), `utc_offset of ${row[0]}`);
    byId.delete(row[0]);
  }
  assert.equal(byId.size, 0, "every API row exported once");
}
