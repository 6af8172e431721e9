import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface ChartSeries {
  label: string;
  values: (number | null)[];
  scale: "count" | "money";
  dashed?: boolean;
  color: string;
}

interface Props {
  labels: string[];
  series: ChartSeries[];
  zone: string;
  onPick: (index: number) => void;
}

const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });
const wholeTicks = [1, 2, 3, 4, 5, 7, 10, 14, 15, 20, 25, 30, 50, 60, 90, 100, 120, 180, 200, 365, 500, 1000];
const cssVar = (name: string) => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";

/** uPlot line chart over bucket indexes; clicking a bucket picks it. Redrawn on data, size or theme change. */
export function TimelineChart(props: Props) {
  const host = useRef<HTMLDivElement>(null);
  const pick = useRef(props.onPick);
  pick.current = props.onPick;

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    let chart: uPlot | null = null;
    const draw = () => {
      chart?.destroy();
      const ink = cssVar("--muted");
      const grid = cssVar("--line");
      const axis = { stroke: ink, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
      const opts: uPlot.Options = {
        width: Math.max(280, el.clientWidth),
        height: 260,
        // Not live: with the cursor off the chart a live legend reads "--", which looks like missing data.
        legend: { show: true, live: false },
        cursor: { drag: { x: false, y: false } },
        scales: {
          x: { time: false },
          // Counts and money start at zero, so heights compare honestly.
          count: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.05] },
          money: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.05] },
        },
        axes: [
          {
            ...axis,
            label: `Period (${props.zone})`,
            space: 90,
            incrs: wholeTicks,
            values: (_u, ticks) => ticks.map((t) => (Number.isInteger(t) ? props.labels[t] ?? "" : "")),
          },
          { ...axis, scale: "count", label: "Conversions", values: (_u, ticks) => ticks.map((t) => compact.format(t)) },
          { ...axis, scale: "money", side: 1, label: "Value", size: 70, grid: { show: false }, values: (_u, ticks) => ticks.map((t) => compact.format(t)) },
        ],
        series: [
          { label: "Period", value: (_u, v) => (v == null ? "" : props.labels[v] ?? "") },
          ...props.series.map((s) => ({
            label: s.label,
            scale: s.scale,
            stroke: s.color,
            width: 2,
            dash: s.dashed ? [6, 4] : undefined,
            points: { show: props.labels.length <= 62, fill: cssVar("--card") },
          })),
        ],
      };
      const data: uPlot.AlignedData = [props.labels.map((_, i) => i), ...props.series.map((s) => s.values)];
      chart = new uPlot(opts, data, el);
      chart.over.addEventListener("click", () => {
        const idx = chart?.cursor.idx;
        if (idx != null) pick.current(idx);
      });
    };
    draw();
    let width = el.clientWidth;
    const ro = new ResizeObserver(() => {
      if (Math.abs(el.clientWidth - width) > 8) {
        width = el.clientWidth;
        chart?.setSize({ width: Math.max(280, width), height: 260 });
      }
    });
    ro.observe(el);
    const mo = new MutationObserver(draw);
    mo.observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
    return () => {
      ro.disconnect();
      mo.disconnect();
      chart?.destroy();
    };
  }, [props.labels, props.series, props.zone]);

  return <div class="chart" ref={host} aria-hidden="true" />;
}
