import { Section } from "./Section";
import { change, formatInt, formatMoney, formatPercent, noRateTitle, type Change } from "../lib/format";
import type { Summary } from "../lib/queries";

interface Tile {
  key: string;
  label: string;
  value: string;
  exact: string;
  change: Change;
  /** Why the value reads "—", where it is unknown rather than empty. */
  title?: string;
}

function tiles(s: Summary, p: Summary | undefined, currency: string): Tile[] {
  const num = (v: string | null | undefined) => (v == null ? null : Number(v)); // ratio only, never displayed
  const unknown = s.totalValue == null && s.totalConversions > 0 ? noRateTitle(currency) : undefined;
  return [
    { key: "total-conversions", label: "Total conversions", value: formatInt(s.totalConversions), exact: String(s.totalConversions),
      change: change(s.totalConversions, p?.totalConversions) },
    { key: "conversion-rate", label: "Conversion rate", value: formatPercent(s.conversionRate, 2), exact: String(s.conversionRate ?? ""),
      change: change(s.conversionRate, p?.conversionRate, true) },
    { key: "average-value", label: "Average value", value: formatMoney(s.averageValue, currency), exact: s.averageValue ?? "",
      change: change(num(s.averageValue), num(p?.averageValue)), title: unknown },
    { key: "total-value", label: "Total value", value: formatMoney(s.totalValue, currency), exact: s.totalValue ?? "",
      change: change(num(s.totalValue), num(p?.totalValue)), title: unknown },
    { key: "contacts-received", label: "Contacts received", value: formatInt(s.contactsReceived), exact: String(s.contactsReceived),
      change: change(s.contactsReceived, p?.contactsReceived) },
  ];
}

/** §4.1: the headline figures, each with its change against the comparison period. */
export function Overview(props: { summary: Summary; previous?: Summary; currency: string; compareLabel: string }) {
  return (
    <Section id="overview" title="Overview">
      <div class="tiles">
        {tiles(props.summary, props.previous, props.currency).map((t) => (
          <dl class="tile" data-testid={`tile-${t.key}`}>
            <dt>{t.label}</dt>
            <dd class="figure" data-testid="value" data-value={t.exact} title={t.title}>
              {t.value}
            </dd>
            <dd class={`change ${t.change.dir}`} data-testid="change">
              {t.change.text}
              {props.previous && <span class="sr-only"> {props.compareLabel}</span>}
            </dd>
          </dl>
        ))}
      </div>
    </Section>
  );
}
