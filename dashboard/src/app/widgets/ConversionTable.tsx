import type { ComponentChildren } from "preact";
import { formatInstant, formatMoney } from "../lib/format";
import type { ConversionRow } from "../lib/queries";

interface Props<T extends ConversionRow> {
  /** For screen readers (the table's caption is visually hidden). */
  caption: string;
  rows: T[];
  /** IANA zone the times are shown in. */
  zone: string;
  names: Map<string, string>;
  /** The last column: its heading and its cell (the contact link, who converted, …). */
  last: [string, (row: T) => ComponentChildren];
}

/** Conversions as a table: when (in the view's zone), type, exact value, workspace, and one column of the caller's. */
export function ConversionTable<T extends ConversionRow>(props: Props<T>) {
  const [lastHeading, lastCell] = props.last;
  return (
    <div class="table-wrap">
      <table>
        <caption class="sr-only">{props.caption}</caption>
        <thead>
          <tr>
            <th scope="col">Converted at</th><th scope="col">Type</th><th scope="col">Value</th>
            <th scope="col">Workspace</th><th scope="col">{lastHeading}</th>
          </tr>
        </thead>
        <tbody>
          {props.rows.map((c) => (
            <tr data-conversion-id={c.id}>
              <td><time dateTime={c.convertedAt}>{formatInstant(c.convertedAt, props.zone)}</time></td>
              <td>{c.conversionType}</td>
              <td data-value={c.conversionValue ?? ""}>{formatMoney(c.conversionValue, c.currency)}</td>
              <td>{props.names.get(c.workspaceId) ?? c.workspaceId}</td>
              <td>{lastCell(c)}</td>
            </tr>
          ))}
          {props.rows.length === 0 && <tr><td colSpan={5}>None.</td></tr>}
        </tbody>
      </table>
    </div>
  );
}
