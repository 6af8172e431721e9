//! GraphiQL's fetcher: queries and mutations over HTTP `POST /graphql` with the headers typed in the
//! Headers editor; subscriptions over graphql-transport-ws at `/graphql/ws`, with those same headers
//! sent as the `connection_init` payload (one WebSocket client per distinct set of headers).
import { getOperationAST, parse, type DocumentNode } from "graphql";
import { createClient, type Client, type ExecutionResult } from "graphql-ws";
import type { Fetcher, FetcherOpts, FetcherParams } from "@graphiql/toolkit";

/** Same-origin WebSocket URL of the subscription endpoint (`ws:` or `wss:` as the page). */
export function wsUrl(loc: Location = window.location): string {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${loc.host}/graphql/ws`;
}

function isSubscription(params: FetcherParams, doc?: DocumentNode): boolean {
  try {
    const ast = doc ?? parse(params.query);
    const op = getOperationAST(ast, params.operationName ?? undefined);
    return op?.operation === "subscription";
  } catch {
    return false; // let the server report the syntax error
  }
}

/** Builds the fetcher; `httpUrl` is `/graphql`. */
export function createFetcher(httpUrl: string): Fetcher {
  const clients = new Map<string, Client>();
  const clientFor = (headers: Record<string, unknown>): Client => {
    const key = JSON.stringify(headers);
    let client = clients.get(key);
    if (!client) {
      client = createClient({ url: wsUrl(), connectionParams: headers, lazy: true, retryAttempts: 0 });
      clients.set(key, client);
    }
    return client;
  };

  return (params: FetcherParams, opts?: FetcherOpts) => {
    const headers = withoutPlaceholder((opts?.headers ?? {}) as Record<string, unknown>);
    if (isSubscription(params, opts?.documentAST)) {
      const iterator = clientFor(headers).iterate({
        query: params.query,
        variables: params.variables ?? undefined,
        operationName: params.operationName ?? undefined,
      });
      return iterator as AsyncIterableIterator<ExecutionResult>;
    }
    return fetch(httpUrl, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json", ...stringHeaders(headers) },
      body: JSON.stringify(params),
    }).then((response) => response.json());
  };
}

/** Drops the Headers editor's untouched placeholder (`Bearer <key>`), so introspection works before a key is typed. */
function withoutPlaceholder(headers: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(headers)) if (!(typeof v === "string" && v.includes("<key>"))) out[k] = v;
  return out;
}

function stringHeaders(headers: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) out[k] = typeof v === "string" ? v : JSON.stringify(v);
  return out;
}
