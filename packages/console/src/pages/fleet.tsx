import type { AgentStatus, AgentView } from "@uplink/protocol";
import { useCallback, useEffect, useMemo, useState } from "preact/hooks";
import { VirtualList } from "../components/virtual-list.js";
import { useFleet } from "../lib/fleet-store.js";
import { formatAgo, formatLabels, parseLabels } from "../lib/format.js";
import { href } from "../lib/router.js";

const STATUSES: AgentStatus[] = ["online", "unresponsive", "offline"];
const ROW_HEIGHT = 34;
/** Typing in the label filter asks the hub once the typing pauses this long. */
const FILTER_DELAY_MS = 250;

/**
 * The fleet: counts per status, filters by label and status (answered by the hub), and the agents a page
 * at a time as the list is scrolled, live from the event stream.
 */
export function FleetPage() {
  const fleet = useFleet();
  const [status, setStatus] = useState<AgentStatus | "">(fleet.filter.status);
  const [labelText, setLabelText] = useState(() => formatLabels(fleet.filter.labels));
  const now = useNow(10_000);

  // The filters go to the hub: status at once, labels once the typing pauses.
  useEffect(() => {
    const labels = parseLabels(labelText);
    if (labelsEqual(labels, fleet.filter.labels)) {
      fleet.setFilter({ status, labels: fleet.filter.labels });
      return;
    }
    const timer = setTimeout(() => fleet.setFilter({ status, labels }), FILTER_DELAY_MS);
    return () => clearTimeout(timer);
  }, [status, labelText]);

  // One slot per row of the view, loaded or not: the list's length is the counts' total.
  const total = fleet.total;
  const slots = useMemo(() => Array.from({ length: total }, (_, i) => fleet.rows[i]), [fleet.version, total]);
  const onRange = useCallback((_first: number, last: number) => fleet.want(last), [fleet]);

  return (
    <section class="page fleet">
      <div class="page-head">
        <h1>Fleet</h1>
        <span class={`live live-${fleet.live}`} data-testid="live">{fleet.live}</span>
      </div>
      <StatusBar counts={fleet.counts} total={fleet.labelTotal} selected={status} onSelect={setStatus} />
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
          {total} of {fleet.labelTotal} agents
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
        {!fleet.loaded ? (
          <p class="muted pad">Loading agents…</p>
        ) : total === 0 ? (
          <p class="muted pad">No agents match.</p>
        ) : (
          <VirtualList
            items={slots}
            rowHeight={ROW_HEIGHT}
            label="agent rows"
            onRange={onRange}
            render={(id) => {
              const agent = id === undefined ? undefined : fleet.agents.get(id);
              return agent === undefined ? <LoadingRow /> : <AgentRow agent={agent} now={now} />;
            }}
          />
        )}
      </div>
    </section>
  );
}

function labelsEqual(a: Record<string, string>, b: Record<string, string>): boolean {
  return Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v);
}

/** A row of the view whose page is not loaded yet. */
function LoadingRow() {
  return (
    <>
      <span class="muted">…</span>
      <span class="muted">loading</span>
    </>
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
