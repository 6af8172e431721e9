//! GraphiQL keeps tabs and its query history in localStorage, and the history records each run's headers —
//! which here hold an admin or workspace key. This storage passes everything through except `headers` fields,
//! so no credential is ever written to disk.
import type { Storage } from "@graphiql/toolkit";

function scrub(value: string): string {
  try {
    return JSON.stringify(JSON.parse(value), (key, v) => (key === "headers" ? undefined : v));
  } catch {
    return value; // not JSON: a plain string such as the query text
  }
}

/** localStorage without any `headers` field in what GraphiQL stores. */
export function headerlessStorage(): Storage {
  return {
    getItem: (key) => localStorage.getItem(key),
    setItem: (key, value) => localStorage.setItem(key, scrub(value)),
    removeItem: (key) => localStorage.removeItem(key),
    clear: () => localStorage.clear(),
    get length() {
      return localStorage.length;
    },
  };
}
