import { useState } from "preact/hooks";
import { Section } from "./Section";
import { change, formatInt, formatMoney, formatPercent, noRateTitle } from "../lib/format";
import type { WorkspaceFigures } from "../lib/queries";

type Key = "name" | "contacts" | "conversions" | "rate" | "revenue" | "average" | "change";

interface Row {
  id: string;
  name: string;
  contacts: number;
  conversions: number;
  rate: number | null;
  revenue: string | null;
  average: string | null;
  change: number | null;
}

const COLUMNS: [Key, string][] = [
  ["name", "Workspace"],
  ["contacts", "Contacts"],
  ["conversions", "Conversions"],
  ["rate", "Conv. rate"],
  ["revenue", "Revenue"],
  ["average", "Average"],
  ["change", "Change"],
];

/** Rows in `key`'s order, descending or not; a row without that figure (unknown) comes last either way. */
function compare(a: Row, b: Row, key: Key, desc: boolean): number {
  const x = a[key];
  const y = b[key];
  if (x == null || y == null) return x == null ? (y == null ? 0 : 1) : -1;
  const order =
    key === "revenue" || key === "average"
      ? Number(x) - Number(y) // ordering only
      : typeof x === "string"
        ? x.localeCompare(y as string)
        : (x as number) - (y as number);
  return desc ? -order : order;
}

interface Props {
  rows: WorkspaceFigures[];
  previous?: WorkspaceFigures[];
  names: Map<string, string>;
  currency: string;
  selected?: string;
  select: (id: string | undefined) => void;
}

/** §4.3: one row per workspace, sortable; a row filters the dashboard to its workspace. */
export function WorkspaceGrid(props: Props) {
  const [sort, setSort] = useState<{ key: Key; desc: boolean }>({ key: "revenue", desc: true });
  const prev = new Map(props.previous?.map((w) => [w.workspaceId, w]));
  const rows: Row[] = props.rows.map((w) => {
    const p = prev.get(w.workspaceId);
    const c = p ? change(w.conversions, p.conversions) : null;
    return {
      id: w.workspaceId,
      name: props.names.get(w.workspaceId) ?? w.workspaceId,
      contacts: w.contactsReceived,
      conversions: w.conversions,
      rate: w.conversionRate,
      revenue: w.totalValue,
      average: w.averageValue,
      change: p && c ? (p.conversions ? ((w.conversions - p.conversions) / p.conversions) * 100 : null) : null,
    };
  });
  rows.sort((a, b) => compare(a, b, sort.key, sort.desc));
  const changeText = (r: Row) => {
    const p = prev.get(r.id);
    return props.previous ? change(r.conversions, p?.conversions ?? 0) : { dir: "none", text: "—" };
  };
  return (
    <Section id="workspaces" title="Workspace performance">
      <div class="table-wrap">
        <table class="grid">
          <caption>Workspace performance</caption>
          <thead>
            <tr>
              {COLUMNS.map(([key, label]) => (
                <th scope="col" aria-sort={sort.key === key ? (sort.desc ? "descending" : "ascending") : "none"}>
                  <button
                    type="button"
                    onClick={() => setSort({ key, desc: sort.key === key ? !sort.desc : key !== "name" })}
                  >
                    {label}
                    <span aria-hidden="true">{sort.key === key ? (sort.desc ? " ▼" : " ▲") : ""}</span>
                  </button>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => {
              const ch = changeText(r);
              return (
                <tr
                  data-workspace-id={r.id}
                  class={props.selected === r.id ? "selected" : undefined}
                  onClick={() => props.select(props.selected === r.id ? undefined : r.id)}
                >
                  <th scope="row">
                    <button
                      type="button"
                      class="link"
                      aria-pressed={props.selected === r.id}
                      title={props.selected === r.id ? "Show all workspaces" : "Filter the dashboard to this workspace"}
                      onClick={(e) => {
                        e.stopPropagation();
                        props.select(props.selected === r.id ? undefined : r.id);
                      }}
                    >
                      {r.name}
                    </button>
                  </th>
                  <td data-value={r.contacts}>{formatInt(r.contacts)}</td>
                  <td data-value={r.conversions}>{formatInt(r.conversions)}</td>
                  <td data-value={r.rate ?? ""}>{formatPercent(r.rate, 2)}</td>
                  <td data-value={r.revenue ?? undefined} title={r.revenue == null ? noRateTitle(props.currency) : undefined}>
                    {formatMoney(r.revenue, props.currency)}
                  </td>
                  <td data-value={r.average ?? ""} title={r.revenue == null ? noRateTitle(props.currency) : undefined}>
                    {formatMoney(r.average, props.currency)}
                  </td>
                  <td class={`change ${ch.dir}`}>{ch.text}</td>
                </tr>
              );
            })}
            {rows.length === 0 && (
              <tr>
                <td colSpan={7}>No workspace has figures in this period.</td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </Section>
  );
}
