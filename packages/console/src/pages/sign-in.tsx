import { useState } from "preact/hooks";
import { api, describeError, type Session } from "../lib/api.js";

/**
 * Sign-in: an API token is exchanged for a session once; the token itself is never kept by the page
 * (the session is an HttpOnly cookie) and never put in a URL.
 */
export function SignInPage({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);

  async function submit(event: Event): Promise<void> {
    event.preventDefault();
    setBusy(true);
    setError("");
    try {
      const session = await api<Session>("POST", "/api/v1/session", { token: token.trim() });
      setToken("");
      onSignedIn(session);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div class="sign-in">
      <form class="card" onSubmit={(e) => void submit(e)}>
        <h1>Uplink</h1>
        <p class="muted">Sign in with an API token (create one with <code>uplink-hub token create --kind api --scope admin</code>).</p>
        <label>
          API token
          <input type="password" name="token" autocomplete="off" value={token} onInput={(e) => setToken(e.currentTarget.value)} autofocus required />
        </label>
        {error !== "" && <p class="error" role="alert">{error}</p>}
        <button type="submit" class="primary" disabled={busy || token.trim() === ""}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </div>
  );
}
