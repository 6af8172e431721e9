//! §4.6: `custom_metadata` rendered by value type. Every user string is direction-isolated (`<bdi>`) and wraps
//! anywhere; long arrays collapse behind a "+N more" toggle; nested trees indent modestly and stay in the card.
import type { JSX } from "preact";
import { useState } from "preact/hooks";

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;
/** Chips shown before the "+N more" toggle. */
export const CHIP_LIMIT = 12;

export const humanize = (key: string) => {
  const s = key.replace(/^secret_/, "").replace(/[_-]+/g, " ").replace(/([a-z])([A-Z])/g, "$1 $2").trim();
  const h = s.charAt(0).toUpperCase() + s.slice(1);
  return /^secret_/.test(key) ? `${h} (secret)` : h;
};

/** A real calendar date: the parsed Y-M-D equals the input (so 2026-02-30 is not rolled over to March 2). */
export function isRealDate(y: number, m: number, d: number): boolean {
  const t = new Date(Date.UTC(y, m - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d;
}

function DateValue({ text }: { text: string }) {
  const m = ISO_DATE.exec(text) ?? ISO_INSTANT.exec(text);
  const dateOnly = ISO_DATE.test(text);
  const d = new Date(dateOnly ? `${text}T00:00:00Z` : text);
  const valid = m && isRealDate(+m[1], +m[2], +m[3]) && (dateOnly || (+m[4] < 24 && +m[5] < 60)) && !Number.isNaN(d.getTime());
  if (!valid) return <bdi class="text">{text}</bdi>;
  const shown = new Intl.DateTimeFormat("en-US", {
    dateStyle: "long",
    ...(dateOnly ? { timeZone: "UTC" } : { timeStyle: "short" }),
  }).format(d);
  return <time dateTime={text} data-kind="date">{shown}</time>;
}

function Chips({ name, items }: { name: string; items: unknown[] }) {
  const [all, setAll] = useState(false);
  const shown = all ? items : items.slice(0, CHIP_LIMIT);
  const rest = items.length - CHIP_LIMIT;
  return (
    <div class="chips-wrap">
      <ul class="chips" data-kind="chips" data-count={items.length} aria-label={humanize(name)}>
        {shown.map((v) => (
          <li><bdi>{typeof v === "object" && v !== null ? JSON.stringify(v) : String(v)}</bdi></li>
        ))}
      </ul>
      {rest > 0 && (
        <button type="button" class="link" aria-expanded={all} onClick={() => setAll(!all)}>
          {all ? "Show fewer" : `+${rest} more`}
        </button>
      )}
    </div>
  );
}

/** One value, by its type; `key` decides scores (0–100 under a key containing "score") and secrets. */
export function MetaValue({ name, value }: { name: string; value: unknown }): JSX.Element {
  if (value === null || value === undefined) return <span class="muted">—</span>;
  if (typeof value === "string" && value === "***") {
    return <span class="hidden-value" data-kind="hidden">hidden</span>;
  }
  if (typeof value === "number" && /score/i.test(name) && value >= 0 && value <= 100) {
    return (
      <span class="score" data-kind="meter">
        <meter min={0} max={100} low={40} high={70} optimum={100} value={value} aria-label={humanize(name)} />
        <span>{value}/100</span>
      </span>
    );
  }
  if (typeof value === "boolean") return <span>{value ? "Yes" : "No"}</span>;
  if (typeof value === "number") return <span data-kind="number">{String(value)}</span>;
  if (typeof value === "string") {
    if (ISO_DATE.test(value) || ISO_INSTANT.test(value)) return <DateValue text={value} />;
    return <bdi class="text">{value}</bdi>;
  }
  if (Array.isArray(value)) {
    if (!value.length) return <span class="muted">[] (empty list)</span>;
    return <Chips name={name} items={value} />;
  }
  if (typeof value === "object") return <MetaTree data={value as Record<string, unknown>} nested />;
  return <bdi class="text">{String(value)}</bdi>;
}

/** An object as a key/value tree (nested objects nest). */
export function MetaTree({ data, nested }: { data: Record<string, unknown>; nested?: boolean }) {
  const entries = Object.entries(data);
  if (!entries.length) return <p class="muted" data-kind="empty-object">{"{}"} (empty object)</p>;
  return (
    <dl class={nested ? "meta nested" : "meta"} data-kind="tree">
      {entries.map(([k, v]) => (
        <div class="meta-row" data-key={k}>
          <dt><bdi>{humanize(k)}</bdi></dt>
          <dd>
            <MetaValue name={k} value={v} />
          </dd>
        </div>
      ))}
    </dl>
  );
}
