import type { ServiceInfo, WorkspaceRef } from "../lib/queries";
import type { Period } from "../lib/period";
import { RANGES, type Compare, type Interval, type SetView, type View } from "../lib/view";

interface Props {
  view: View;
  setView: SetView;
  period: Period;
  tz: string;
  info: ServiceInfo;
  workspaces: WorkspaceRef[];
  types: string[];
  /** The workspace in effect (a workspace key's own when the URL names none). */
  workspace?: string;
}

const ALL_ZONES: string[] = (() => {
  try {
    return (Intl as unknown as { supportedValuesOf(k: string): string[] }).supportedValuesOf("timeZone");
  } catch {
    return ["UTC"];
  }
})();

/** The view's filters: range, dates, zone, workspace, type, interval, comparison. Each change is one URL change. */
export function Controls({ view, setView, period, tz, info, workspaces, types, workspace }: Props) {
  const fast = info.rollupTimeZones;
  const others = ALL_ZONES.filter((z) => !fast.includes(z) && z !== tz);
  const close = { drill: undefined, contact: undefined };
  const setDate = (which: "from" | "to") => (e: Event) => {
    const value = (e.currentTarget as HTMLInputElement).value;
    if (!value) return;
    const next = { from: period.from, to: period.to, [which]: value };
    if (next.from > next.to) return;
    setView({ range: "custom", ...next, ...close });
  };
  return (
    <form class="controls" aria-label="View" onSubmit={(e) => e.preventDefault()}>
      <label>
        Range
        <select
          value={view.range}
          onChange={(e) => {
            const range = e.currentTarget.value;
            if (range === "custom") setView({ range, from: period.from, to: period.to, ...close });
            else setView({ range, from: undefined, to: undefined, ...close });
          }}
        >
          {RANGES.map((r) => (
            <option value={r}>Last {parseInt(r, 10)} days</option>
          ))}
          <option value="custom">Custom</option>
        </select>
      </label>
      <label>
        From
        <input type="date" value={period.from} max={period.to} onChange={setDate("from")} />
      </label>
      <label>
        To
        <input type="date" value={period.to} min={period.from} onChange={setDate("to")} />
      </label>
      <label>
        Time zone
        <select value={tz} onChange={(e) => setView({ tz: e.currentTarget.value, ...close })}>
          <optgroup label="Rolled up (fast)">
            {fast.map((z) => (
              <option value={z}>{z}</option>
            ))}
          </optgroup>
          <optgroup label="Other zones">
            {!fast.includes(tz) && <option value={tz}>{tz}</option>}
            {others.map((z) => (
              <option value={z}>{z}</option>
            ))}
          </optgroup>
        </select>
      </label>
      <label>
        Workspace
        <select
          value={workspace ?? ""}
          disabled={!info.caller.isAdmin && workspaces.length <= 1}
          onChange={(e) => setView({ ws: e.currentTarget.value || undefined, ...close })}
        >
          {info.caller.isAdmin && <option value="">All workspaces</option>}
          {workspaces.map((w) => (
            <option value={w.id}>{w.name}</option>
          ))}
        </select>
      </label>
      <label>
        Conversion type
        <select value={view.type ?? ""} onChange={(e) => setView({ type: e.currentTarget.value || undefined, ...close })}>
          <option value="">All types</option>
          {types.map((t) => (
            <option value={t}>{t}</option>
          ))}
        </select>
      </label>
      <label>
        Interval
        <select value={view.interval} onChange={(e) => setView({ interval: e.currentTarget.value as Interval, drill: undefined })}>
          <option value="day">Day</option>
          <option value="week">Week</option>
          <option value="month">Month</option>
        </select>
      </label>
      <label>
        Compare with
        <select value={view.compare} onChange={(e) => setView({ compare: e.currentTarget.value as Compare })}>
          <option value="previous">Previous period</option>
          <option value="year">Previous year</option>
          <option value="none">None</option>
        </select>
      </label>
    </form>
  );
}
