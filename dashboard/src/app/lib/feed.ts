//! The live feed: `conversionFeed` over graphql-transport-ws at `/graphql/ws` with the JWT in `connection_init`.
//! When the socket drops (or stops answering pings) it reconnects with backoff and asks
//! `conversions(filter: {createdAfter})` for what was stored meanwhile; items are deduplicated by id, so each
//! missed conversion shows exactly once.
import { createClient, type Client } from "graphql-ws";
import { currentToken, signOut } from "./auth";
import { gql, GraphQLError } from "./gql";
import { FEED, MISSED, type FeedConversion, type FeedEvent, type MissedData } from "./queries";

export type FeedStatus = "Connecting…" | "Live" | "Reconnecting…";

export interface FeedOptions {
  workspaceId?: string;
  conversionType?: string;
  onItems: (items: FeedConversion[]) => void;
  /** A conversion already logged was restated or retracted: as it stands now. */
  onAdjusted?: (conversion: FeedConversion) => void;
  onStatus: (s: FeedStatus) => void;
  /** Catch-up stopped at its bound: `n` missed conversions were not fetched. */
  onMissedMore?: (n: number) => void;
}

/** Pages of 200 fetched by one catch-up at most (2,000 conversions). */
export const CATCH_UP_PAGES = 10;
export const REVOKED = "Your key was revoked or your session ended; sign in again.";

/** A refusal for authentication: close code 4401/4403, or an UNAUTHENTICATED/FORBIDDEN error. */
function isAuthRefusal(err: unknown): boolean {
  if (err && typeof err === "object" && "code" in err && typeof (err as CloseEvent).code === "number") {
    return (err as CloseEvent).code === 4401 || (err as CloseEvent).code === 4403;
  }
  const list = Array.isArray(err) ? err : [err];
  return list.some((e) => {
    const code = (e as { extensions?: { code?: string } } | null)?.extensions?.code;
    return code === "UNAUTHENTICATED" || code === "FORBIDDEN";
  });
}

function wsUrl(): string {
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/graphql/ws`;
}

/** Starts the feed; returns a function that stops it. */
export function startFeed(opts: FeedOptions): () => void {
  let stopped = false;
  let client: Client | null = null;
  // Catch-up starts after the newest conversion received live (server clock), or else a little before the
  // socket was first acknowledged (client clock, with a margin for skew); ids already shown are dropped.
  let lastLive: string | null = null;
  let connectedAt: number | null = null;
  let attempt = 0;
  let wasDown = false;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;

  const deliver = (items: FeedConversion[]) => {
    if (items.length) opts.onItems(items);
  };

  const catchUp = async () => {
    const since = lastLive ?? new Date((connectedAt ?? Date.now()) - 30_000).toISOString();
    const filter: Record<string, unknown> = { createdAfter: since };
    if (opts.workspaceId) filter.workspaceId = opts.workspaceId;
    if (opts.conversionType) filter.conversionType = opts.conversionType;
    // Page through everything stored since (bounded); each page is delivered as it comes, duplicates dropped by id.
    let after: string | null = null;
    let fetched = 0;
    try {
      for (let page = 0; page < CATCH_UP_PAGES; page++) {
        const data: MissedData = await gql<MissedData>(MISSED, { filter, after });
        if (stopped) return;
        const c = data.conversions;
        fetched += c.nodes.length;
        deliver(c.nodes);
        if (!c.pageInfo.hasNextPage || !c.pageInfo.endCursor) return;
        after = c.pageInfo.endCursor;
        if (page === CATCH_UP_PAGES - 1) opts.onMissedMore?.(Math.max(1, c.totalCount - fetched));
      }
    } catch (e) {
      if (e instanceof GraphQLError && (e.code === "UNAUTHENTICATED" || e.code === "FORBIDDEN")) refused();
      /* otherwise the next reconnect tries again */
    }
  };

  const refused = () => {
    if (stopped) return;
    stopped = true;
    clearTimeout(retryTimer);
    if (client) Promise.resolve(client.dispose()).catch(() => {});
    client = null;
    signOut(REVOKED);
  };

  const connect = () => {
    if (stopped) return;
    opts.onStatus(wasDown ? "Reconnecting…" : "Connecting…");
    let socket: WebSocket | null = null;
    let pingTimeout: ReturnType<typeof setTimeout> | undefined;
    const c = createClient({
      url: wsUrl(),
      lazy: false,
      retryAttempts: 0,
      onNonLazyError: () => {}, // reported through the subscription's error, which reconnects
      keepAlive: 10_000,
      connectionParams: () => ({ Authorization: `Bearer ${currentToken() ?? ""}` }),
      on: {
        connected: (s) => {
          socket = s as WebSocket;
          attempt = 0;
          connectedAt ??= Date.now();
          opts.onStatus("Live");
          if (wasDown) void catchUp();
          wasDown = false;
        },
        ping: (received) => {
          if (!received)
            pingTimeout = setTimeout(() => {
              if (socket?.readyState === WebSocket.OPEN) socket.close(4408, "ping timeout");
            }, 5_000);
        },
        pong: (received) => {
          if (received) clearTimeout(pingTimeout);
        },
        closed: () => clearTimeout(pingTimeout),
      },
    });
    client = c;
    const variables: Record<string, unknown> = {};
    if (opts.workspaceId) variables.ws = opts.workspaceId;
    if (opts.conversionType) variables.types = [opts.conversionType];
    const down = (err?: unknown) => {
      if (stopped || client !== c) return;
      if (isAuthRefusal(err)) return refused();
      wasDown = true;
      opts.onStatus("Reconnecting…");
      // dispose() awaits a connection still being made, which rejects when it closes before the ack.
      Promise.resolve(c.dispose()).catch(() => {});
      client = null;
      const wait = Math.min(5_000, 500 * 2 ** attempt++);
      retryTimer = setTimeout(connect, wait);
    };
    c.subscribe<FeedEvent["conversionFeed"]>(
      { query: FEED, variables },
      {
        next: (r) => {
          const event = (r.data as unknown as FeedEvent | undefined)?.conversionFeed;
          if (event?.kind === "LOGGED") {
            if (!lastLive || event.conversion.createdAt > lastLive) lastLive = event.conversion.createdAt;
            deliver([event.conversion]);
          } else if (event) {
            opts.onAdjusted?.(event.conversion);
          }
        },
        error: down,
        complete: () => down(),
      },
    );
  };

  connect();
  return () => {
    stopped = true;
    clearTimeout(retryTimer);
    if (client) Promise.resolve(client.dispose()).catch(() => {});
  };
}
