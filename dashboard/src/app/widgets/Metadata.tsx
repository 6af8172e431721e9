//! §4.6: `custom_metadata` rendered by value type.
import type { JSX } from "preact";

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;

export const humanize = (key: string) => {
  const s = key.replace(/^secret_/, "").replace(/[_-]+/g, " ").replace(/([a-z])([A-Z])/g, "$1 $2").trim();
  return s.charAt(0).toUpperCase() + s.slice(1);
};

function DateValue({ text }: { text: string }) {
  const dateOnly = ISO_DATE.test(text);
  const d = new Date(dateOnly ? `${text}T00:00:00Z` : text);
  if (Number.isNaN(d.getTime())) return <span>{text}</span>;
  const shown = new Intl.DateTimeFormat("en-US", {
    dateStyle: "long",
    ...(dateOnly ? { timeZone: "UTC" } : { timeStyle: "short" }),
  }).format(d);
  return <time dateTime={text} data-kind="date">{shown}</time>;
}

/** One value, by its type; `key` decides scores (0–100 under a key containing "score") and secrets. */
export function MetaValue({ name, value }: { name: string; value: unknown }): JSX.Element {
  if (value === null || value === undefined) return <span class="muted">—</span>;
  if (typeof value === "string" && value === "***" ) {
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
    return <span>{value}</span>;
  }
  if (Array.isArray(value)) {
    return (
      <ul class="chips" data-kind="chips" aria-label={humanize(name)}>
        {value.map((v) => (
          <li>{typeof v === "object" && v !== null ? JSON.stringify(v) : String(v)}</li>
        ))}
      </ul>
    );
  }
  if (typeof value === "object") return <MetaTree data={value as Record<string, unknown>} />;
  return <span>{String(value)}</span>;
}

/** An object as a key/value tree (nested objects nest). */
export function MetaTree({ data }: { data: Record<string, unknown> }) {
  const entries = Object.entries(data);
  if (!entries.length) return <p class="muted">No metadata.</p>;
  return (
    <dl class="meta" data-kind="tree">
      {entries.map(([k, v]) => (
        <div class="meta-row" data-key={k}>
          <dt>{humanize(k)}</dt>
          <dd>
            <MetaValue name={k} value={v} />
          </dd>
        </div>
      ))}
    </dl>
  );
}
