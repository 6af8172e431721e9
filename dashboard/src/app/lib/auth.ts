//! Sign-in: a key is exchanged for a JWT at `POST /auth/token`. The JWT is kept in memory and in sessionStorage
//! (so a reload stays signed in within the tab); the key is kept in this module's memory only, for the life of the
//! page, and never stored, put in a URL, or logged. A minute before the JWT expires the key is exchanged again: the
//! server mints tokens from keys only, never from another token. After a reload the key is gone, so the restored
//! token is not renewed: when it runs out the page asks for the key again, saying why.

export interface Session {
  token: string;
  /** Epoch milliseconds. */
  expiresAt: number;
}

const STORE_KEY = "convio.session";
type Listener = (s: Session | null) => void;

let session: Session | null = load();
/** The key the session was signed in with; memory only, gone on reload and on sign-out. */
let key: string | null = null;
let timer: ReturnType<typeof setTimeout> | undefined;
const listeners = new Set<Listener>();

function load(): Session | null {
  try {
    const raw = sessionStorage.getItem(STORE_KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as Session;
    return s.expiresAt > Date.now() + 5000 ? s : null;
  } catch {
    return null;
  }
}

function set(next: Session | null): void {
  session = next;
  if (timer) clearTimeout(timer);
  if (next) {
    sessionStorage.setItem(STORE_KEY, JSON.stringify(next));
    const left = next.expiresAt - Date.now();
    // With the key: renew a little before the end. Without it (a restored session): end it at the end.
    const at = key ? left - Math.min(60_000, left / 5) : left;
    timer = setTimeout(renew, Math.max(1000, at));
  } else {
    key = null;
    sessionStorage.removeItem(STORE_KEY);
  }
  listeners.forEach((l) => l(next));
}

async function exchange(authorization: string): Promise<Session> {
  const res = await fetch("/auth/token", { method: "POST", headers: { Authorization: authorization } });
  if (!res.ok) {
    let detail = `sign-in failed (${res.status})`;
    try {
      const body = (await res.json()) as { detail?: string; title?: string };
      detail = body.detail ?? body.title ?? detail;
    } catch {
      /* not JSON */
    }
    throw new Error(detail);
  }
  const body = (await res.json()) as { access_token: string; expires_in: number };
  return { token: body.access_token, expiresAt: Date.now() + body.expires_in * 1000 };
}

/** Exchanges an admin or workspace key for a JWT, and keeps the key in memory to renew it. Rejects with the
 * server's reason. */
export async function signIn(pasted: string): Promise<void> {
  const trimmed = pasted.trim();
  const next = await exchange(`Bearer ${trimmed}`);
  key = trimmed;
  set(next);
}

async function renew(): Promise<void> {
  if (!session) return;
  if (!key) {
    signOut("Your session ended (the page was reloaded, so it could not be renewed); sign in again.");
    return;
  }
  try {
    set(await exchange(`Bearer ${key}`));
  } catch {
    signOut("Your key was revoked or your session ended; sign in again.");
  }
}

let reason: string | null = null;

/** Signs out; `why` (a forced sign-out) is shown on the sign-in form. */
export function signOut(why?: string): void {
  reason = typeof why === "string" ? why : null;
  set(null);
}

/** Why the last sign-out was forced (cleared by reading it with `clear`), or null after a user's own. */
export function signOutReason(clear = false): string | null {
  const r = reason;
  if (clear) reason = null;
  return r;
}

export function currentToken(): string | null {
  return session && session.expiresAt > Date.now() ? session.token : null;
}

export function currentSession(): Session | null {
  return session;
}

/** Calls `l` on every sign-in, renewal and sign-out; returns the unsubscribe function. */
export function onSession(l: Listener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

// A session restored from sessionStorage needs its renewal timer.
if (session) set(session);
