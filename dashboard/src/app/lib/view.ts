//! The view lives in the URL (`?range=30d&tz=…&ws=…&type=…&interval=…&compare=…&drill=…&contact=…`), so reload,
//! Back and a copied link reproduce it. `useView` reads it and pushes a history entry on every change.
import { useEffect, useState } from "preact/hooks";

export type Interval = "day" | "week" | "month";
export type Compare = "previous" | "year" | "none";
export const RANGES = ["7d", "30d", "90d", "365d"] as const;

export interface View {
  /** `7d`, `30d`, `90d`, `365d`, or `custom` when `from` and `to` are set. */
  range: string;
  from?: string;
  to?: string;
  /** IANA zone; absent means the service's default zone. */
  tz?: string;
  ws?: string;
  type?: string;
  interval: Interval;
  compare: Compare;
  /** `period:<label>` or `stage:<stage>`. */
  drill?: string;
  contact?: string;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const STAGES = ["leads_received", "qualified", "appointments", "conversions"];

/** A real calendar date `YYYY-MM-DD` (2026-02-30 is not). */
export function isDate(s: string | undefined): s is string {
  const m = s ? DATE.exec(s) : null;
  if (!m) return false;
  const t = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
  return t.getUTCFullYear() === +m[1] && t.getUTCMonth() === +m[2] - 1 && t.getUTCDate() === +m[3];
}

/** An IANA zone this browser knows (an unknown one makes every Intl call throw). */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export interface Parsed {
  view: View;
  /** The URL keys whose value was refused (the default is used instead). */
  bad: string[];
}

/** The view in `search`, every value validated; a refused value falls back to the default and is named in `bad`. */
export function checkView(search: string): Parsed {
  const q = new URLSearchParams(search);
  const get = (k: string) => q.get(k) || undefined;
  const bad: string[] = [];
  let from = get("from");
  let to = get("to");
  if (from !== undefined && !isDate(from)) { bad.push("from"); from = undefined; }
  if (to !== undefined && !isDate(to)) { bad.push("to"); to = undefined; }
  if (from && to && from > to) { bad.push("from", "to"); from = to = undefined; }
  if ((from && !to) || (to && !from)) { bad.push(from ? "to" : "from"); from = to = undefined; }
  const custom = !!from && !!to;
  const range = get("range");
  if (range !== undefined && !custom && !RANGES.includes(range as (typeof RANGES)[number])) bad.push("range");
  let tz = get("tz");
  if (tz !== undefined && !isTimeZone(tz)) { bad.push("tz"); tz = undefined; }
  const interval = get("interval");
  if (interval !== undefined && !["day", "week", "month"].includes(interval)) bad.push("interval");
  const compare = get("compare");
  if (compare !== undefined && !["previous", "year", "none"].includes(compare)) bad.push("compare");
  let drill = get("drill");
  if (drill !== undefined) {
    const [kind, arg] = drill.split(/:(.*)/s);
    const ok = (kind === "stage" && STAGES.includes(arg)) || (kind === "period" && /^\d{4}-\d{2}(-\d{2})?$/.test(arg ?? ""));
    if (!ok) { bad.push("drill"); drill = undefined; }
  }
  let contact = get("contact");
  if (contact !== undefined && !/^[\w.-]{1,64}$/.test(contact)) { bad.push("contact"); contact = undefined; }
  const view: View = {
    range: custom ? "custom" : RANGES.includes(range as (typeof RANGES)[number]) ? range! : "30d",
    from: custom ? from : undefined,
    to: custom ? to : undefined,
    tz,
    ws: get("ws"),
    type: get("type"),
    interval: interval === "week" || interval === "month" ? interval : "day",
    compare: compare === "year" || compare === "none" ? compare : "previous",
    drill,
    contact,
  };
  return { view, bad: [...new Set(bad)] };
}

export function parseView(search: string): View {
  return checkView(search).view;
}

export function viewSearch(v: View): string {
  const q = new URLSearchParams();
  if (v.range === "custom" && v.from && v.to) {
    q.set("from", v.from);
    q.set("to", v.to);
  } else {
    q.set("range", v.range);
  }
  if (v.tz) q.set("tz", v.tz);
  if (v.ws) q.set("ws", v.ws);
  if (v.type) q.set("type", v.type);
  if (v.interval !== "day") q.set("interval", v.interval);
  if (v.compare !== "previous") q.set("compare", v.compare);
  if (v.drill) q.set("drill", v.drill);
  if (v.contact) q.set("contact", v.contact);
  // Keep `drill=period:2024-03-10` and `tz=America/New_York` readable: neither needs escaping in a query.
  return `?${q.toString().replace(/%3A/gi, ":").replace(/%2F/gi, "/")}`;
}

export type SetView = (patch: Partial<View>) => void;

/**
 * The current view, a setter that merges a patch and pushes it onto the history, the URL keys refused so far
 * (a refused value is replaced in the URL with `history.replaceState`, so it does not stick), and a way to
 * refuse one more (`reject("ws", {ws: undefined})`) or clear the notice.
 */
export function useView(): [View, SetView, string[], (key: string | null, patch?: Partial<View>) => void] {
  const [state, setState] = useState(() => clean(window.location.search));
  useEffect(() => {
    const onPop = () => setState(clean(window.location.search));
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);
  const setView: SetView = (patch) => {
    const next = { ...parseView(window.location.search), ...patch };
    const search = viewSearch(next);
    if (search !== window.location.search) window.history.pushState(null, "", search);
    setState({ view: parseView(search), bad: [] });
  };
  const reject = (key: string | null, patch?: Partial<View>) => {
    if (key === null) return setState((s) => ({ ...s, bad: [] }));
    const next = { ...parseView(window.location.search), ...patch };
    const search = viewSearch(next);
    if (search !== window.location.search) window.history.replaceState(null, "", search);
    setState((s) => ({ view: parseView(search), bad: s.bad.includes(key) ? s.bad : [...s.bad, key] }));
  };
  return [state.view, setView, state.bad, reject];
}

function clean(search: string): Parsed {
  const parsed = checkView(search);
  if (parsed.bad.length) {
    const fixed = viewSearch(parsed.view);
    if (fixed !== search) window.history.replaceState(null, "", fixed);
  }
  return parsed;
}
