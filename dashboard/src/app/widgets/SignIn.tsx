import { useState } from "preact/hooks";
import { signIn, signOutReason } from "../lib/auth";

/** The key form: the key is exchanged for a JWT and kept in memory only, to renew it (see `lib/auth`). */
export function SignIn() {
  const [error, setError] = useState<string | null>(null);
  const [reason, setReason] = useState(() => signOutReason());
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const input = form.elements.namedItem("key") as HTMLInputElement;
    setBusy(true);
    setError(null);
    try {
      await signIn(input.value);
      signOutReason(true);
      setReason(null);
      input.value = "";
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <form onSubmit={submit} aria-labelledby="signin-h" aria-describedby="signin-help">
        <h2 id="signin-h">Sign in to the dashboard</h2>
        {reason && <p role="alert" class="notice error" data-testid="signout-reason">{reason}</p>}
        <p id="signin-help">Paste a workspace key or the admin key. It is exchanged for a short-lived token, kept in this tab's memory to renew it, and never stored.</p>
        <label for="key">API key</label>
        <input id="key" name="key" type="password" autocomplete="off" required spellcheck={false} />
        <button type="submit" disabled={busy}>Sign in</button>
        {error && <p role="alert" class="error">{error}</p>}
      </form>
    </main>
  );
}
