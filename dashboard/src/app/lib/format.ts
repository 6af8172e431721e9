//! Display formatting. Money arrives as a Decimal string and is formatted as a string (never through a float);
//! ratios and percents may be floats.

const groups = (int: string) => int.replace(/\B(?=(\d{3})+(?!\d))/g, ",");

/** `"1234567.5"` → `"1,234,567.50"`: thousands separators, at least `minFraction` decimals, exact. */
export function formatDecimal(value: string, minFraction = 2): string {
  const neg = value.startsWith("-");
  const [int, frac = ""] = (neg ? value.slice(1) : value).split(".");
  const f = frac.padEnd(minFraction, "0");
  return `${neg ? "-" : ""}${groups(int.replace(/^0+(?=\d)/, ""))}${f ? `.${f}` : ""}`;
}

const symbols = new Map<string, [string, boolean]>();
function symbol(currency: string): [string, boolean] {
  let s = symbols.get(currency);
  if (!s) {
    try {
      const parts = new Intl.NumberFormat("en-US", { style: "currency", currency }).formatToParts(1);
      const i = parts.findIndex((p) => p.type === "currency");
      const integer = parts.findIndex((p) => p.type === "integer");
      s = [parts[i]?.value ?? currency, i < integer];
    } catch {
      s = [currency + " ", true];
    }
    symbols.set(currency, s);
  }
  return s;
}

/** `"25000"`, `"USD"` → `"$25,000.00"`. */
export function formatMoney(value: string | null | undefined, currency: string): string {
  if (value == null) return "—";
  const [sym, before] = symbol(currency);
  const neg = value.startsWith("-");
  const body = formatDecimal(neg ? value.slice(1) : value);
  return `${neg ? "−" : ""}${before ? sym + body : body + " " + sym}`;
}

/** The title of a total shown "—": one of its conversions has no exchange rate into `currency` yet. */
export const noRateTitle = (currency: string) =>
  `Unknown: a conversion here has no exchange rate into ${currency} (PUT /exchange-rates sets one)`;

export const formatInt = (n: number) => groups(String(n));

export const formatPercent = (p: number | null | undefined, digits = 1) =>
  p == null ? "—" : `${p.toFixed(digits)}%`;

export interface Change {
  /** "up", "down" or "same"; "new" when the comparison was zero and now is not. */
  dir: "up" | "down" | "same" | "new" | "none";
  text: string;
}

/** Change of `now` against `before`, as sign, arrow and words (never colour alone). */
export function change(now: number | null | undefined, before: number | null | undefined, points = false): Change {
  if (now == null || before == null) return { dir: "none", text: "no comparison" };
  if (points) {
    const d = now - before;
    if (Math.abs(d) < 0.005) return { dir: "same", text: "→ no change" };
    return d > 0
      ? { dir: "up", text: `▲ +${d.toFixed(2)} pts` }
      : { dir: "down", text: `▼ −${Math.abs(d).toFixed(2)} pts` };
  }
  if (before === 0) return now === 0 ? { dir: "same", text: "→ no change" } : { dir: "new", text: "▲ new (was 0)" };
  const pct = ((now - before) / Math.abs(before)) * 100;
  if (Math.abs(pct) < 0.05) return { dir: "same", text: "→ no change" };
  return pct > 0
    ? { dir: "up", text: `▲ +${pct.toFixed(1)}%` }
    : { dir: "down", text: `▼ −${Math.abs(pct).toFixed(1)}%` };
}

/** "3 min ago"-style text. */
export function relativeTime(iso: string, now = Date.now()): string {
  const s = Math.round((now - Date.parse(iso)) / 1000);
  if (s < 10) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** A date-time shown in `tz`, with the zone named. */
export function formatInstant(iso: string, tz: string): string {
  try {
    return new Intl.DateTimeFormat("en-GB", {
      timeZone: tz, year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short",
    }).format(new Date(iso));
  } catch {
    return iso;
  }
}
