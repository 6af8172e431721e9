//! The typed GraphQL layer: one `POST /graphql` per call, with the session's bearer token.
import { currentToken, signOut } from "./auth";

export class GraphQLError extends Error {
  constructor(message: string, readonly code?: string) {
    super(message);
  }
}

interface Reply<T> {
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

/** Runs one operation; rejects with the first error (its `extensions.code` kept). */
export async function gql<T>(query: string, variables: Record<string, unknown>, signal?: AbortSignal): Promise<T> {
  const token = currentToken();
  if (!token) {
    signOut(); // the token ran out unrenewed (e.g. the tab slept): back to the sign-in form
    throw new GraphQLError("your session ended; sign in again", "UNAUTHENTICATED");
  }
  const res = await fetch("/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
    signal,
  });
  if (res.status === 401) {
    signOut();
    throw new GraphQLError("your session ended; sign in again", "UNAUTHENTICATED");
  }
  const reply = (await res.json()) as Reply<T>;
  const first = reply.errors?.[0];
  if (first) {
    if (first.extensions?.code === "UNAUTHENTICATED") signOut();
    throw new GraphQLError(first.message, first.extensions?.code);
  }
  if (!reply.data) throw new GraphQLError(`no data (HTTP ${res.status})`);
  return reply.data;
}
