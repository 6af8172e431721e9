import { formatInt } from "../lib/format";

interface Props {
  page: number;
  size: number;
  shown: number;
  total: number;
  hasNext: boolean;
  prev: () => void;
  next: () => void;
  /** `data-testid` of the status line (default `drill-total`). */
  testId?: string;
}

/** "Showing 26–50 of 120" with Previous/Next page buttons. */
export function Pager(p: Props) {
  const first = p.page * p.size + 1;
  return (
    <div class="pager">
      <span role="status" data-testid={p.testId ?? "drill-total"} data-value={p.total}>
        {p.total === 0 ? "None" : `Showing ${formatInt(first)}–${formatInt(first + p.shown - 1)} of ${formatInt(p.total)}`}
      </span>
      <button type="button" disabled={p.page === 0} onClick={p.prev}>
        Previous page
      </button>
      <button type="button" disabled={!p.hasNext} onClick={p.next}>
        Next page
      </button>
    </div>
  );
}
