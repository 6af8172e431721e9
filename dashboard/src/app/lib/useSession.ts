import { useEffect, useState } from "preact/hooks";
import { currentSession, onSession, type Session } from "./auth";

/** The current session, re-rendering on sign-in, renewal and sign-out. */
export function useSession(): Session | null {
  const [s, setS] = useState(currentSession());
  useEffect(() => onSession(setS), []);
  return s;
}
