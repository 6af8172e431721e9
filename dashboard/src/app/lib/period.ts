//! Calendar arithmetic on plain dates (`YYYY-MM-DD`) in a view's zone: the selected period, its comparison
//! period, and the buckets of a timeline (as the API labels them) with their own date span.
import type { Compare, Interval, View } from "./view";

export interface Period {
  from: string;
  to: string;
}

export interface Bucket {
  /** The API's label: `2024-03-10` for a day or a week's first day, `2024-03` for a month. */
  label: string;
  /** The bucket's days inside the period (a week or month may be cut by the period's ends). */
  from: string;
  to: string;
}

const DAY = 86_400_000;
const toMs = (d: string) => Date.UTC(+d.slice(0, 4), +d.slice(5, 7) - 1, +d.slice(8, 10));
const fromMs = (ms: number) => new Date(ms).toISOString().slice(0, 10);
export const addDays = (d: string, n: number) => fromMs(toMs(d) + n * DAY);
export const daysBetween = (a: string, b: string) => Math.round((toMs(b) - toMs(a)) / DAY);

/** Today's date in `tz`. */
export function todayIn(tz: string, now = new Date()): string {
  return new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" }).format(now);
}

/** The view's period: a rolling `Nd` ends today (in the zone) and spans N days. */
export function viewPeriod(view: View, tz: string, now = new Date()): Period {
  if (view.range === "custom" && view.from && view.to) return { from: view.from, to: view.to };
  const days = parseInt(view.range, 10) || 30;
  const to = todayIn(tz, now);
  return { from: addDays(to, 1 - days), to };
}

function minusYear(d: string): string {
  const y = +d.slice(0, 4) - 1;
  const md = d.slice(5) === "02-29" ? "02-28" : d.slice(5);
  return `${String(y).padStart(4, "0")}-${md}`;
}

/** The period compared against: the same length just before, or the same dates a year earlier. */
export function comparisonPeriod(p: Period, mode: Compare): Period | null {
  if (mode === "none") return null;
  if (mode === "year") return { from: minusYear(p.from), to: minusYear(p.to) };
  const len = daysBetween(p.from, p.to) + 1;
  return { from: addDays(p.from, -len), to: addDays(p.from, -1) };
}

function weekStartOf(d: string, weekStart: "MONDAY" | "SUNDAY"): string {
  const dow = new Date(toMs(d)).getUTCDay(); // 0 = Sunday
  const back = weekStart === "SUNDAY" ? dow : (dow + 6) % 7;
  return addDays(d, -back);
}

function lastOfMonth(d: string): string {
  const y = +d.slice(0, 4);
  const m = +d.slice(5, 7);
  return fromMs(Date.UTC(y, m, 0));
}

/** Every bucket of the period, oldest first, including empty ones. */
export function buckets(p: Period, interval: Interval, weekStart: "MONDAY" | "SUNDAY"): Bucket[] {
  const out: Bucket[] = [];
  let d = p.from;
  while (d <= p.to) {
    let label: string;
    let end: string;
    if (interval === "day") {
      label = d;
      end = d;
    } else if (interval === "week") {
      label = weekStartOf(d, weekStart);
      end = addDays(label, 6);
    } else {
      label = d.slice(0, 7);
      end = lastOfMonth(d);
    }
    const to = end < p.to ? end : p.to;
    out.push({ label, from: d, to });
    d = addDays(to, 1);
    if (out.length > 2000) break;
  }
  return out;
}

/** The bucket of `label` within the period, if any. */
export function bucketOf(p: Period, interval: Interval, weekStart: "MONDAY" | "SUNDAY", label: string): Bucket | undefined {
  return buckets(p, interval, weekStart).find((b) => b.label === label);
}
