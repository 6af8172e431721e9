import { useEffect, useState } from "preact/hooks";
import { gql } from "./gql";

export interface QueryState<T> {
  data?: T;
  error?: string;
  loading: boolean;
}

/**
 * Runs `query` whenever its variables (or `refresh`) change (one request per change; a stale answer is dropped), keeping the
 * previous data on screen while the next loads. `null` variables skip the request.
 */
export function useQuery<T>(query: string, variables: Record<string, unknown> | null, refresh = 0): QueryState<T> {
  const [state, setState] = useState<QueryState<T>>({ loading: variables !== null });
  const key = variables === null ? "" : JSON.stringify(variables);
  useEffect(() => {
    if (variables === null) return;
    const ctl = new AbortController();
    setState((s) => ({ data: s.data, loading: true }));
    gql<T>(query, variables, ctl.signal).then(
      (data) => setState({ data, loading: false }),
      (e: Error) => {
        if (!ctl.signal.aborted) setState((s) => ({ data: s.data, error: e.message, loading: false }));
      },
    );
    return () => ctl.abort();
  }, [query, key, refresh]);
  return state;
}
