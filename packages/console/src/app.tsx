import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { allows, api, setSession, whenSignedOut, type Session } from "./lib/api.js";
import { fleetStore, resetFleetStore } from "./lib/fleet-store.js";
import { currentRoute, href, navigate, useRoute } from "./lib/router.js";
import { AgentPage } from "./pages/agent.js";
import { FleetPage } from "./pages/fleet.js";
import { HistoryDetailPage, HistoryPage } from "./pages/history.js";
import { QueryPage } from "./pages/query.js";
import { SignInPage } from "./pages/sign-in.js";
import { TokensPage } from "./pages/tokens.js";

/** The console: the session check, then the shell (navigation, sign-out) around the page of the route. */
export function App() {
  const [session, setSessionState] = useState<Session | null | undefined>(undefined);

  function signedIn(next: Session | null): void {
    setSession(next);
    if (next === null) resetFleetStore();
    setSessionState(next);
  }

  useEffect(() => {
    whenSignedOut(() => signedIn(null));
    api<Session>("GET", "/api/v1/session").then(signedIn, () => signedIn(null));
    // The fleet (the first page) is asked for alongside the session, not after it: with a live cookie it is
    // there one round trip sooner; without one it is refused (401), which signs out and drops it.
    if (currentRoute()[0] === undefined || currentRoute()[0] === "fleet") fleetStore();
  }, []);

  if (session === undefined) return <div class="loading">Loading…</div>;
  if (session === null) return <SignInPage onSignedIn={signedIn} />;
  return <Shell session={session} onSignOut={() => signedIn(null)} />;
}

const TITLES: Record<string, string> = { fleet: "Fleet", agents: "Agent", query: "Query", history: "History", tokens: "Tokens" };

function Shell({ session, onSignOut }: { session: Session; onSignOut: () => void }) {
  const route = useRoute();
  const page = route[0] ?? "fleet";
  const [signingOut, setSigningOut] = useState(false);
  useEffect(() => {
    document.title = `${TITLES[page] ?? "Uplink"} · Uplink`;
  }, [page]);

  async function signOut(): Promise<void> {
    setSigningOut(true);
    try {
      await api("DELETE", "/api/v1/session");
    } finally {
      onSignOut();
      navigate("fleet");
    }
  }

  return (
    <div class="shell">
      <header class="topbar">
        <a class="brand" href={href("fleet")}>
          Uplink
        </a>
        <nav>
          <NavLink page={page} to="fleet" also={["agents"]}>Fleet</NavLink>
          <NavLink page={page} to="query">Query</NavLink>
          <NavLink page={page} to="history">History</NavLink>
          {allows(session.scope, "admin") && <NavLink page={page} to="tokens">Tokens</NavLink>}
        </nav>
        <div class="who">
          <span class="who-name" title={`expires ${session.expiresAt}`}>
            {session.name} · <span data-testid="scope">{session.scope}</span>
          </span>
          <button type="button" class="link" onClick={() => void signOut()} disabled={signingOut}>
            Sign out
          </button>
        </div>
      </header>
      <main>{renderPage(route, session)}</main>
    </div>
  );
}

function NavLink({ page, to, also = [], children }: { page: string; to: string; also?: string[]; children: ComponentChildren }) {
  const active = page === to || also.includes(page);
  return (
    <a href={href(to)} class={active ? "active" : undefined} aria-current={active ? "page" : undefined}>
      {children}
    </a>
  );
}

function renderPage(route: string[], session: Session) {
  const [page, id] = route;
  switch (page) {
    case undefined:
    case "fleet":
      return <FleetPage />;
    case "agents":
      return id === undefined ? <FleetPage /> : <AgentPage key={id} agentId={id} session={session} />;
    case "query":
      return <QueryPage session={session} initialAgent={id} />;
    case "history":
      return id === undefined ? <HistoryPage /> : <HistoryDetailPage key={id} id={id} />;
    case "tokens":
      return allows(session.scope, "admin") ? <TokensPage /> : <p class="notice">Tokens need an admin session.</p>;
    default:
      return <p class="notice">No such page.</p>;
  }
}
