import { Section } from "./Section";
import { formatInt, formatPercent } from "../lib/format";
import type { FunnelStage } from "../lib/queries";

export const STAGE_LABELS: Record<string, string> = {
  leads_received: "Leads received",
  qualified: "Qualified",
  appointments: "Appointments",
  conversions: "Conversions",
};

/** §4.2: the funnel as a list of stages; a stage opens the list of its contacts. */
export function Funnel(props: { stages: FunnelStage[]; open: (stage: string) => void; selected?: string }) {
  const first = props.stages[0]?.count ?? 0;
  return (
    <Section id="funnel" title="Funnel">
      <ol class="funnel">
        {props.stages.map((s, i) => {
          const prev = i > 0 ? props.stages[i - 1].count : null;
          const step = prev ? (100 * s.count) / prev : null;
          const width = first ? Math.max(1, (100 * s.count) / first) : 0;
          return (
            <li>
              <button
                type="button"
                class="stage"
                data-testid={`funnel-${s.stage}`}
                data-count={s.count}
                aria-pressed={props.selected === s.stage}
                onClick={() => props.open(s.stage)}
              >
                <span class="stage-name">{STAGE_LABELS[s.stage] ?? s.stage}</span>
                <span class="bar" aria-hidden="true">
                  <span ref={(el) => {
                    if (el) el.style.width = `${width}%`;
                  }} />
                </span>
                <span class="stage-figures">
                  <strong data-value={s.count}>{formatInt(s.count)}</strong>
                  <span>{formatPercent(s.percent)} of leads</span>
                  {i > 0 && <span>{step == null ? "—" : formatPercent(step)} of previous step</span>}
                </span>
              </button>
            </li>
          );
        })}
      </ol>
    </Section>
  );
}
