import { SignIn } from "./widgets/SignIn";
import { ThemeToggle } from "./widgets/ThemeToggle";
import { Dashboard } from "./Dashboard";
import { signOut } from "./lib/auth";
import { useSession } from "./lib/useSession";
import { useQuery } from "./lib/useQuery";
import { BOOT, type BootData } from "./lib/queries";

/** Signed out: the key form. Signed in: the server's settings once, then the dashboard. */
export function App() {
  const session = useSession();
  return (
    <>
      <header class="top">
        <h1>convio</h1>
        <div class="top-actions">
          <ThemeToggle />
          {session && (
            <button type="button" onClick={() => signOut()}>
              Sign out
            </button>
          )}
        </div>
      </header>
      {session ? <SignedIn token={session.token} /> : <SignIn />}
    </>
  );
}

function SignedIn(_props: { token: string }) {
  const boot = useQuery<BootData>(BOOT, {});
  if (boot.error && !boot.data) return <main><p role="alert" class="error">{boot.error}</p></main>;
  if (!boot.data) return <main><p role="status">Loading…</p></main>;
  return (
    <main>
      <Dashboard info={boot.data.serviceInfo} workspaces={boot.data.workspaces} />
    </main>
  );
}
