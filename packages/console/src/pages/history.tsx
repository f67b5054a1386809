import type { AuditRow, FanoutView, HistoryPage as Page, QueryStatus } from "@uplink/protocol";
import { useEffect, useState } from "preact/hooks";
import { CellText, ResultTable } from "../components/result-table.js";
import { api, describeError, queryString } from "../lib/api.js";
import { useFleet } from "../lib/fleet-store.js";
import { formatDuration, formatTime } from "../lib/format.js";
import { href, navigate } from "../lib/router.js";
import { FanoutResults } from "./fanout-results.js";

const STATUSES: QueryStatus[] = ["pending", "ok", "error", "timeout", "offline", "cancelled"];
const PAGE_SIZE = 50;

/** The audit, newest first, a page at a time (by `nextBefore`), filtered by agent and status. */
export function HistoryPage() {
  const fleet = useFleet();
  const [agentId, setAgentId] = useState("");
  const [status, setStatus] = useState("");
  // The cursors of the pages before this one, so "Newer" goes back without refetching from the start.
  const [cursors, setCursors] = useState<(number | undefined)[]>([undefined]);
  const [page, setPage] = useState<Page | null>(null);
  const [error, setError] = useState("");
  const before = cursors[cursors.length - 1];

  useEffect(() => {
    // No rows of the previous filter or page stay clickable while this one loads.
    setPage(null);
    setError("");
    api<Page>("GET", "/api/v1/queries" + queryString({ agentId, status, limit: PAGE_SIZE, before })).then(setPage, (err: unknown) => setError(describeError(err)));
  }, [agentId, status, before]);

  const filter = (set: (v: string) => void) => (value: string) => {
    set(value);
    setCursors([undefined]);
  };
  const agents = [...fleet.agents.values()].sort((a, b) => a.hostname.localeCompare(b.hostname));

  return (
    <section class="page history">
      <div class="page-head">
        <h1>History</h1>
      </div>
      <div class="filters">
        <label>
          Agent
          <select value={agentId} onChange={(e) => filter(setAgentId)(e.currentTarget.value)} data-testid="history-agent">
            <option value="">any</option>
            {agents.map((a) => (
              <option value={a.id}>{a.hostname}</option>
            ))}
          </select>
        </label>
        <label>
          Status
          <select value={status} onChange={(e) => filter(setStatus)(e.currentTarget.value)} data-testid="history-status">
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option value={s}>{s}</option>
            ))}
          </select>
        </label>
        <span class="spacer-flex" />
        <button type="button" disabled={cursors.length === 1} onClick={() => setCursors(cursors.slice(0, -1))}>
          ← Newer
        </button>
        <button type="button" disabled={page?.nextBefore == null} onClick={() => page?.nextBefore != null && setCursors([...cursors, page.nextBefore])}>
          Older →
        </button>
      </div>
      {error !== "" && <p class="error">{error}</p>}
      {page === null ? <p class="muted">Loading…</p> : <HistoryTable rows={page.queries} />}
    </section>
  );
}

/** Audit rows as a table; a row opens its fan-out (when it belongs to one) or its own result. */
export function HistoryTable({ rows }: { rows: AuditRow[] }) {
  const fleet = useFleet();
  if (rows.length === 0) return <p class="muted">No queries.</p>;
  return (
    <table class="grid-table clickable" data-testid="history-table">
      <thead>
        <tr>
          <th>When</th>
          <th>Agent</th>
          <th>Status</th>
          <th>Duration</th>
          <th>Query</th>
          <th>Fan-out</th>
          <th>By</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((row) => {
          const target = row.fanoutId ?? row.correlationId;
          return (
            <tr onClick={() => navigate("history", target)} data-testid="history-row">
              <td>{formatTime(row.createdAt)}</td>
              <td>{fleet.agents.get(row.agentId)?.hostname ?? row.agentId}</td>
              <td>
                <span class={`badge q-${row.status}`}>{row.status}</span>
              </td>
              <td>{formatDuration(row.durationMs)}</td>
              <td class="query-cell">
                <a href={href("history", target)} onClick={(e) => e.stopPropagation()}>
                  {row.query.length > 80 ? row.query.slice(0, 80) + "…" : row.query}
                </a>
              </td>
              <td class="mono">{row.fanoutId ?? "—"}</td>
              <td>{row.requester}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

/** One history entry: a fan-out with its targets, or a single command with its result. */
export function HistoryDetailPage({ id }: { id: string }) {
  const [entry, setEntry] = useState<FanoutView | AuditRow | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    api<FanoutView | AuditRow>("GET", `/api/v1/queries/${encodeURIComponent(id)}`).then(setEntry, (err: unknown) => setError(describeError(err)));
  }, [id]);

  return (
    <section class="page history-detail">
      <div class="page-head">
        <a href={href("history")} class="muted">
          History /
        </a>
        <h1 class="mono">{id}</h1>
      </div>
      {error !== "" && <p class="error">{error}</p>}
      {entry === null ? null : "targets" in entry ? <FanoutDetail view={entry} /> : <CommandDetail row={entry} />}
    </section>
  );
}

function FanoutDetail({ view }: { view: FanoutView }) {
  return (
    <>
      <QueryMeta query={view.query} facts={[["Requested by", view.requester], ["Started", formatTime(view.createdAt)], ["Finished", formatTime(view.finishedAt)], ["Targets", String(view.targetCount)], ["Timeout", formatDuration(view.timeoutMs)]]} />
      <FanoutResults fanoutId={view.id} initial={view} />
    </>
  );
}

function CommandDetail({ row }: { row: AuditRow }) {
  const fleet = useFleet();
  return (
    <>
      <QueryMeta
        query={row.query}
        facts={[
          ["Agent", fleet.agents.get(row.agentId)?.hostname ?? row.agentId],
          ["Status", row.status],
          ["Requested by", row.requester],
          ["Started", formatTime(row.createdAt)],
          ["Duration", formatDuration(row.durationMs)],
          ["Correlation id", row.correlationId],
        ]}
      />
      {row.error !== null && (
        <p class="error" data-testid="command-error">
          {row.error.code}: <CellText cell={row.error.message} />
        </p>
      )}
      {row.result !== null && <ResultTable table={row.result} name={`query-${row.correlationId}`} truncated={row.result.truncated} />}
      {row.resultTruncated && <p class="muted">The result was larger than the audit keeps; run the query again to see it.</p>}
    </>
  );
}

function QueryMeta({ query, facts }: { query: string; facts: [string, string][] }) {
  return (
    <>
      <pre class="sql" data-testid="detail-query">
        {query}
      </pre>
      <dl class="details inline">
        {facts.map(([k, v]) => (
          <>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </>
        ))}
      </dl>
    </>
  );
}
