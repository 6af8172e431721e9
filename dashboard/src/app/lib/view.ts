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

const DATE = /^\d{4}-\d{2}-\d{2}$/;

export function parseView(search: string): View {
  const q = new URLSearchParams(search);
  const get = (k: string) => q.get(k) || undefined;
  const from = get("from");
  const to = get("to");
  const custom = !!from && !!to && DATE.test(from) && DATE.test(to);
  const range = get("range");
  const interval = get("interval");
  const compare = get("compare");
  return {
    range: custom ? "custom" : RANGES.includes(range as (typeof RANGES)[number]) ? range! : "30d",
    from: custom ? from : undefined,
    to: custom ? to : undefined,
    tz: get("tz"),
    ws: get("ws"),
    type: get("type"),
    interval: interval === "week" || interval === "month" ? interval : "day",
    compare: compare === "year" || compare === "none" ? compare : "previous",
    drill: get("drill"),
    contact: get("contact"),
  };
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

/** The current view and a setter that merges a patch and pushes it onto the history. */
export function useView(): [View, SetView] {
  const [view, setState] = useState(() => parseView(window.location.search));
  useEffect(() => {
    const onPop = () => setState(parseView(window.location.search));
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);
  const setView: SetView = (patch) => {
    const next = { ...parseView(window.location.search), ...patch };
    const search = viewSearch(next);
    if (search !== window.location.search) window.history.pushState(null, "", search);
    setState(parseView(search));
  };
  return [view, setView];
}
