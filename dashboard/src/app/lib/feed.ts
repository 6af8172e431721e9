//! The live feed: `conversionFeed` over graphql-transport-ws at `/graphql/ws` with the JWT in `connection_init`.
//! When the socket drops (or stops answering pings) it reconnects with backoff and asks
//! `conversions(filter: {createdAfter})` for what was stored meanwhile; items are deduplicated by id, so each
//! missed conversion shows exactly once.
import { createClient, type Client } from "graphql-ws";
import { currentToken } from "./auth";
import { gql } from "./gql";
import { FEED, MISSED, type FeedConversion, type FeedEvent, type MissedData } from "./queries";

export type FeedStatus = "Connecting…" | "Live" | "Reconnecting…";

export interface FeedOptions {
  workspaceId?: string;
  conversionType?: string;
  onItems: (items: FeedConversion[]) => void;
  onStatus: (s: FeedStatus) => void;
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
    try {
      const data = await gql<MissedData>(MISSED, { filter });
      if (!stopped) deliver(data.conversions.nodes);
    } catch {
      /* the next reconnect tries again */
    }
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
    const down = () => {
      if (stopped || client !== c) return;
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
          if (event) {
            if (!lastLive || event.conversion.createdAt > lastLive) lastLive = event.conversion.createdAt;
            deliver([event.conversion]);
          }
        },
        error: down,
        complete: down,
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
