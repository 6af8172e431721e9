import { useEffect, useState } from "preact/hooks";

/** Cursor-stack paging for a Relay connection; resets when `key` changes. */
export function usePages(key: string) {
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  useEffect(() => setCursors([null]), [key]);
  const page = cursors.length - 1;
  return {
    page,
    after: cursors[page],
    next: (c: string | null) => c && setCursors([...cursors, c]),
    prev: () => setCursors(cursors.slice(0, -1)),
  };
}
