import type { AgentView, HistoryPage } from "@uplink/protocol";
import { useEffect, useState } from "preact/hooks";
import { HealthChart } from "../components/health-chart.js";
import { allows, api, ApiError, describeError, type Session } from "../lib/api.js";
import { useFleet } from "../lib/fleet-store.js";
import { formatAgo, formatBytes, formatDuration, formatLabels, formatTime } from "../lib/format.js";
import type { AgentHealthHistory } from "@uplink/protocol";
import { href, navigate } from "../lib/router.js";
import { StatusBadge, useNow } from "./fleet.js";
import { HistoryTable } from "./history.js";

const HEALTH_REFRESH_MS = 5000;

/** One agent: its details (live from the fleet store), health over time, recent queries; revoke for admins. */
export function AgentPage({ agentId, session }: { agentId: string; session: Session }) {
  const fleet = useFleet();
  const now = useNow(5000);
  const [error, setError] = useState("");
  const [health, setHealth] = useState<AgentHealthHistory | null>(null);
  const [recent, setRecent] = useState<HistoryPage | null>(null);
  const [confirming, setConfirming] = useState(false);
  const agent = fleet.agents.get(agentId);
  const path = `/api/v1/agents/${encodeURIComponent(agentId)}`;

  useEffect(() => {
    api<AgentView>("GET", path).then(
      (a) => fleet.put(a),
      (err: unknown) => setError(err instanceof ApiError && err.status === 404 ? "No such agent (it may have been revoked)." : describeError(err)),
    );
    api<HistoryPage>("GET", `/api/v1/queries?agentId=${encodeURIComponent(agentId)}&limit=20`).then(setRecent, (err: unknown) => setError(describeError(err)));
  }, [agentId]);

  // Health samples now, every few seconds (a sample is written per presence flush), and on a status change.
  useEffect(() => {
    const load = () => api<AgentHealthHistory>("GET", `${path}/health`).then(setHealth, () => setHealth((old) => old ?? { samples: [] }));
    void load();
    const timer = setInterval(load, HEALTH_REFRESH_MS);
    return () => clearInterval(timer);
  }, [agentId, agent?.status]);

  async function revoke(): Promise<void> {
    try {
      await api("DELETE", path);
      fleet.remove(agentId);
      navigate("fleet");
    } catch (err) {
      setError(describeError(err));
    }
  }

  if (agent === undefined) return <section class="page">{error !== "" ? <p class="error">{error}</p> : <p class="muted">Loading…</p>}</section>;
  const h = agent.lastHealth;
  const legacy = agent.legacyShapes !== null && agent.legacyShapes.length > 0;

  return (
    <section class="page agent">
      <div class="page-head">
        <a href={href("fleet")} class="muted">
          Fleet /
        </a>
        <h1 data-testid="agent-hostname">{agent.hostname}</h1>
        <StatusBadge status={agent.status} />
        <span class="spacer-flex" />
        {allows(session.scope, "query") && (
          <a class="button" href={href("query", agent.id)}>
            Query this agent
          </a>
        )}
        {allows(session.scope, "admin") &&
          (confirming ? (
            <span class="confirm">
              Revoke {agent.hostname}? Its key stops working and its connection closes.
              <button type="button" class="danger" onClick={() => void revoke()}>
                Revoke
              </button>
              <button type="button" onClick={() => setConfirming(false)}>
                Keep
              </button>
            </span>
          ) : (
            <button type="button" class="danger" onClick={() => setConfirming(true)}>
              Revoke…
            </button>
          ))}
      </div>
      {error !== "" && <p class="error">{error}</p>}
      <dl class="details">
        <dt>Agent id</dt>
        <dd class="mono">{agent.id}</dd>
        <dt>Labels</dt>
        <dd>{formatLabels(agent.labels) || "—"}</dd>
        <dt>Reported labels</dt>
        <dd>{formatLabels(agent.reportedLabels) || "—"}</dd>
        <dt>Version</dt>
        <dd>{agent.agentVersion ?? "—"}</dd>
        <dt>Protocol</dt>
        <dd>
          {agent.protocol ?? "—"}
          {(agent.protocol === 1 || legacy) && <span class="tag warn">legacy{legacy ? `: ${agent.legacyShapes!.join(", ")}` : ""}</span>}
        </dd>
        <dt>Platform</dt>
        <dd>
          {agent.platform ?? "—"} {agent.arch ?? ""}
        </dd>
        <dt>Enrolled</dt>
        <dd>{formatTime(agent.enrolledAt)}</dd>
        <dt>Connected</dt>
        <dd>{formatTime(agent.connectedAt)}</dd>
        <dt>Last seen</dt>
        <dd>{formatAgo(agent.lastSeenAt, now)}</dd>
        <dt>Replica</dt>
        <dd>{agent.replicaId ?? "—"}</dd>
        <dt>Last health</dt>
        <dd>{h === null ? "—" : `${h.status} · load ${h.load1.toFixed(2)} · memory free ${formatBytes(h.memFreeBytes)} of ${formatBytes(h.memTotalBytes)} · ${h.inflight} running · up ${formatDuration(h.uptimeS * 1000)}`}</dd>
      </dl>
      <h2>Health over time</h2>
      {health === null ? <p class="muted">Loading…</p> : <HealthChart samples={health.samples} />}
      <h2>Recent queries</h2>
      {recent === null ? <p class="muted">Loading…</p> : <HistoryTable rows={recent.queries} />}
    </section>
  );
}
