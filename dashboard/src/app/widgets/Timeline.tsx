import { useMemo } from "preact/hooks";
import { Section } from "./Section";
import { TimelineChart, type ChartSeries } from "./TimelineChart";
import { formatInt, formatMoney, noRateTitle } from "../lib/format";
import { buckets, type Period } from "../lib/period";
import type { Trends, TrendPoint } from "../lib/queries";
import type { Interval } from "../lib/view";

interface Props {
  period: Period;
  comparison: Period | null;
  interval: Interval;
  weekStart: "MONDAY" | "SUNDAY";
  zone: string;
  currency: string;
  trends: Trends;
  previous?: Trends;
  selected?: string;
  open: (label: string) => void;
}

const pointsOf = (t: Trends | undefined, interval: Interval): TrendPoint[] =>
  (interval === "day" ? t?.daily : interval === "week" ? t?.weekly : t?.monthly) ?? [];

const INTERVAL_NAME = { day: "Day", week: "Week starting", month: "Month" };

/** A bucket's value: "0" without conversions; null (shown "—", a gap in the chart) while one of them lacks a rate. */
const valueOf = (p: TrendPoint | undefined): string | null => (p ? p.totalValue : "0");
const plotted = (v: string | null) => (v == null ? null : Number(v));

/** A bucket's value cell: the exact total, or "—" titled with why it is unknown. */
const ValueCell = (p: { value: string | null; currency: string }) => (
  <td data-value={p.value ?? undefined} title={p.value == null ? noRateTitle(p.currency) : undefined}>
    {formatMoney(p.value, p.currency)}
  </td>
);

/** §4.5: conversions and value per bucket, with the comparison period as a second series, and its table. */
export function Timeline(props: Props) {
  const rows = useMemo(() => {
    const cur = new Map(pointsOf(props.trends, props.interval).map((p) => [p.period, p]));
    const prev = new Map(pointsOf(props.previous, props.interval).map((p) => [p.period, p]));
    const cmp = props.comparison ? buckets(props.comparison, props.interval, props.weekStart) : [];
    return buckets(props.period, props.interval, props.weekStart).map((b, i) => ({
      bucket: b,
      point: cur.get(b.label),
      cmpLabel: cmp[i]?.label,
      cmpPoint: cmp[i] ? prev.get(cmp[i].label) : undefined,
    }));
  }, [props.trends, props.previous, props.period, props.comparison, props.interval, props.weekStart]);

  const { labels, series } = useMemo(() => {
    const labels = rows.map((r) => r.bucket.label);
    const series: ChartSeries[] = [
      { label: "Conversions", scale: "count", color: "#2563eb", values: rows.map((r) => r.point?.conversions ?? 0) },
      { label: "Value", scale: "money", color: "#d97706", values: rows.map((r) => plotted(valueOf(r.point))) },
    ];
    if (props.previous) {
      series.push(
        { label: "Conversions (comparison)", scale: "count", color: "#2563eb", dashed: true, values: rows.map((r) => (r.cmpLabel ? r.cmpPoint?.conversions ?? 0 : null)) },
        { label: "Value (comparison)", scale: "money", color: "#d97706", dashed: true, values: rows.map((r) => (r.cmpLabel ? plotted(valueOf(r.cmpPoint)) : null)) },
      );
    }
    return { labels, series };
  }, [rows, props.previous]);

  const activate = (label: string) => props.open(label);
  return (
    <Section id="timeline" title="Timeline">
      <p class="muted">
        Buckets are {props.interval === "day" ? "days" : props.interval === "week" ? "weeks" : "months"} in {props.zone}. Click a bucket, or
        press Enter on a row of the table, to list its conversions.
      </p>
      <TimelineChart labels={labels} series={series} zone={props.zone} onPick={(i) => rows[i] && activate(rows[i].bucket.label)} />
      <details class="table-toggle" open>
        <summary>Table</summary>
        <div class="table-wrap tall">
          <table class="timeline-table">
            <caption>Timeline data</caption>
            <thead>
              <tr>
                <th scope="col">{INTERVAL_NAME[props.interval]} ({props.zone})</th>
                <th scope="col">Conversions</th>
                <th scope="col">Value</th>
                {props.previous && <th scope="col">Comparison bucket</th>}
                {props.previous && <th scope="col">Conversions</th>}
                {props.previous && <th scope="col">Value</th>}
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr
                  data-period={r.bucket.label}
                  tabIndex={0}
                  class={props.selected === r.bucket.label ? "selected" : undefined}
                  onClick={() => activate(r.bucket.label)}
                  onKeyDown={(e) => {
                    if (e.key === "Enter" || e.key === " ") {
                      e.preventDefault();
                      activate(r.bucket.label);
                    }
                  }}
                >
                  <th scope="row">
                    {r.bucket.label} <span class="zone">{props.zone}</span>
                  </th>
                  <td data-value={r.point?.conversions ?? 0}>{formatInt(r.point?.conversions ?? 0)}</td>
                  <ValueCell value={valueOf(r.point)} currency={props.currency} />
                  {props.previous && <td>{r.cmpLabel ?? "—"}</td>}
                  {props.previous && <td data-value={r.cmpPoint?.conversions ?? 0}>{formatInt(r.cmpPoint?.conversions ?? 0)}</td>}
                  {props.previous && (
                    <ValueCell value={valueOf(r.cmpPoint)} currency={props.currency} />
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </Section>
  );
}
