import type { AgentStatus, AgentView } from "@uplink/protocol";
import { useEffect, useMemo, useState } from "preact/hooks";
import { VirtualList } from "../components/virtual-list.js";
import { useFleet } from "../lib/fleet-store.js";
import { formatAgo, formatLabels, parseLabels } from "../lib/format.js";
import { href } from "../lib/router.js";

const STATUSES: AgentStatus[] = ["online", "unresponsive", "offline"];
const RANK: Record<AgentStatus, number> = { online: 0, unresponsive: 1, offline: 2 };
const ROW_HEIGHT = 34;
const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The fleet: counts per status, filters by label and status, and every agent live from the event stream. */
export function FleetPage() {
  const fleet = useFleet();
  const [status, setStatus] = useState<AgentStatus | "">("");
  const [labelText, setLabelText] = useState("");
  const now = useNow(10_000);

  // Sorted and filtered once per change of the fleet or the filters, not per render (10,000 agents).
  const { all, counts, shown } = useMemo(() => {
    const all = [...fleet.agents.values()];
    const counts = { online: 0, unresponsive: 0, offline: 0 };
    for (const agent of all) counts[agent.status]++;
    const wanted = Object.entries(parseLabels(labelText));
    const shown = all
      .filter((a) => (status === "" || a.status === status) && wanted.every(([k, v]) => a.labels[k] === v))
      .sort((a, b) => RANK[a.status] - RANK[b.status] || compareText(a.hostname, b.hostname) || compareText(a.id, b.id));
    return { all, counts, shown };
  }, [fleet.version, status, labelText]);

  return (
    <section class="page fleet">
      <div class="page-head">
        <h1>Fleet</h1>
        <span class={`live live-${fleet.live}`} data-testid="live">{fleet.live}</span>
      </div>
      <StatusBar counts={counts} total={all.length} selected={status} onSelect={setStatus} />
      <div class="filters">
        <label>
          Status
          <select value={status} onChange={(e) => setStatus(e.currentTarget.value as AgentStatus | "")}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option value={s}>{s}</option>
            ))}
          </select>
        </label>
        <label class="grow">
          Labels
          <input type="search" placeholder="env=prod role=db" value={labelText} onInput={(e) => setLabelText(e.currentTarget.value)} />
        </label>
        <span class="muted" data-testid="shown-count">
          {shown.length} of {all.length} agents
        </span>
      </div>
      {fleet.error !== "" && <p class="error">{fleet.error}</p>}
      <div class="table fleet-table" role="table" aria-label="Agents">
        <div class="vrow head" role="row">
          <span>Status</span>
          <span>Hostname</span>
          <span>Labels</span>
          <span>Version</span>
          <span>Protocol</span>
          <span>Last seen</span>
          <span>Last health</span>
        </div>
        {!fleet.loaded ? <p class="muted pad">Loading agents…</p> : shown.length === 0 ? <p class="muted pad">No agents match.</p> : <VirtualList items={shown} rowHeight={ROW_HEIGHT} label="agent rows" render={(agent) => <AgentRow agent={agent} now={now} />} />}
      </div>
    </section>
  );
}

function StatusBar({ counts, total, selected, onSelect }: { counts: Record<AgentStatus, number>; total: number; selected: string; onSelect: (s: AgentStatus | "") => void }) {
  return (
    <div class="status-summary">
      <div class="status-bar" aria-hidden="true">
        {STATUSES.map((s) => (counts[s] > 0 ? <span class={`seg st-${s}`} style={{ flexGrow: String(counts[s]) }} /> : null))}
      </div>
      <div class="status-counts">
        {STATUSES.map((s) => (
          <button type="button" class={`count st-${s}${selected === s ? " selected" : ""}`} data-testid={`count-${s}`} onClick={() => onSelect(selected === s ? "" : s)}>
            <span class="dot" />
            {s} <strong>{counts[s]}</strong>
          </button>
        ))}
        <span class="muted">total {total}</span>
      </div>
    </div>
  );
}

function AgentRow({ agent, now }: { agent: AgentView; now: number }) {
  const legacy = agent.protocol === 1 || (agent.legacyShapes !== null && agent.legacyShapes.length > 0);
  const health = agent.lastHealth;
  return (
    <>
      <span>
        <StatusBadge status={agent.status} />
      </span>
      <span class="ellipsis">
        <a href={href("agents", agent.id)} data-testid="agent-link">
          {agent.hostname}
        </a>
      </span>
      <span class="ellipsis labels" title={formatLabels(agent.labels)}>
        {formatLabels(agent.labels)}
      </span>
      <span class="ellipsis">{agent.agentVersion ?? "—"}</span>
      <span>
        {agent.protocol ?? "—"}
        {legacy && (
          <span class="tag warn" title={agent.legacyShapes?.join(", ") || "protocol 1"}>
            legacy
          </span>
        )}
      </span>
      <span>{formatAgo(agent.lastSeenAt, now)}</span>
      <span class="ellipsis">{health === null ? "—" : `${health.status} · load ${health.load1.toFixed(2)} · ${health.inflight} running`}</span>
    </>
  );
}

/** An agent's status as a coloured badge. */
export function StatusBadge({ status }: { status: string }) {
  return (
    <span class={`badge st-${status}`} data-testid="status">
      {status}
    </span>
  );
}

/** The current time, refreshed every `ms` (for "5 s ago"). */
export function useNow(ms: number): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}
