//! The typed GraphQL layer: one `POST /graphql` per call, with the session's bearer token.
import { currentToken, signOut } from "./auth";

export class GraphQLError extends Error {
  constructor(message: string, readonly code?: string, readonly retryAfterSeconds?: number) {
    super(message);
  }
}

/** Seconds until a rate limit resets, from `Retry-After` or the `RateLimit`/`X-RateLimit-Reset` headers. */
function retryAfter(h: Headers): number | undefined {
  for (const name of ["retry-after", "ratelimit-reset", "x-ratelimit-reset"]) {
    const v = h.get(name);
    if (!v) continue;
    if (/^\d+$/.test(v.trim())) return +v;
    const at = Date.parse(v);
    if (!Number.isNaN(at)) return Math.max(0, Math.round((at - Date.now()) / 1000));
  }
  const combined = /reset=(\d+)/.exec(h.get("ratelimit") ?? "");
  return combined ? +combined[1] : undefined;
}

/** "resets in about 12 minutes (at 13:05)". */
export function resetText(seconds: number, now = Date.now()): string {
  const at = new Date(now + seconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const span = seconds < 90 ? `${seconds} s` : `about ${Math.round(seconds / 60)} minutes`;
  return `resets in ${span} (at ${at})`;
}

interface Reply<T> {
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

/** Runs one operation; rejects with the first error (its `extensions.code` kept). */
export async function gql<T>(query: string, variables: Record<string, unknown>, signal?: AbortSignal): Promise<T> {
  const token = currentToken();
  if (!token) {
    signOut("Your session ended; sign in again."); // the token ran out unrenewed (e.g. the tab slept): back to the sign-in form
    throw new GraphQLError("your session ended; sign in again", "UNAUTHENTICATED");
  }
  const res = await fetch("/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
    signal,
  });
  if (res.status === 401) {
    signOut("Your key was revoked or your session ended; sign in again.");
    throw new GraphQLError("your session ended; sign in again", "UNAUTHENTICATED");
  }
  let reply: Reply<T>;
  try {
    reply = (await res.json()) as Reply<T>;
  } catch {
    reply = { errors: [{ message: `HTTP ${res.status}`, extensions: { code: res.status === 429 ? "RATE_LIMITED" : undefined } }] };
  }
  const first = reply.errors?.[0] ?? (res.status === 429 ? { message: "rate limit exceeded", extensions: { code: "RATE_LIMITED" } } : undefined);
  if (first) {
    const code = first.extensions?.code;
    if (code === "UNAUTHENTICATED") signOut("Your key was revoked or your session ended; sign in again.");
    const wait = code === "RATE_LIMITED" ? retryAfter(res.headers) : undefined;
    const message = code === "RATE_LIMITED" && wait !== undefined ? `${first.message} — the limit ${resetText(wait)}` : first.message;
    throw new GraphQLError(message, code, wait);
  }
  if (!reply.data) throw new GraphQLError(`no data (HTTP ${res.status})`);
  return reply.data;
}
