import type { Cell, FanoutCounts, FanoutView, TargetResult } from "@uplink/protocol";
import { useEffect, useState } from "preact/hooks";
import { Histogram } from "../components/histogram.js";
import { CellText, ResultTable } from "../components/result-table.js";
import { api, describeError } from "../lib/api.js";
import type { Table } from "../lib/table-text.js";
import { useFleet } from "../lib/fleet-store.js";
import { formatDuration } from "../lib/format.js";
import { href } from "../lib/router.js";

const COUNTED: (keyof FanoutCounts)[] = ["pending", "ok", "error", "timeout", "offline", "cancelled"];

/**
 * A fan-out's results as they land: the fan-out's view first (every target, pending ones too), then its
 * stream from the start (`?after=0`; results already in the view merge by agent), closed at `done`.
 * `ended` is the view the hub answered a cancel with: its targets (the cancelled ones included) merge in
 * and the fan-out reads done, whatever the stream has delivered so far.
 */
export function FanoutResults({ fanoutId, initial, ended, onDone }: { fanoutId: string; initial?: FanoutView; ended?: FanoutView | undefined; onDone?: () => void }) {
  const fleet = useFleet();
  const [targets, setTargets] = useState<Map<string, TargetResult>>(() => new Map(initial?.targets.map((t) => [t.agentId, t])));
  const [done, setDone] = useState(initial?.status === "done");
  const [error, setError] = useState("");

  useEffect(() => {
    if (initial === undefined) {
      api<FanoutView>("GET", `/api/v1/queries/${encodeURIComponent(fanoutId)}`).then(
        (view) => setTargets((old) => merge(old, view.targets)),
        (err: unknown) => setError(describeError(err)),
      );
    }
  }, [fanoutId]);

  useEffect(() => {
    if (ended === undefined) return;
    setTargets((old) => merge(old, ended.targets));
    setDone(true);
  }, [ended]);

  useEffect(() => {
    if (done) return;
    const source = new EventSource(`/api/v1/queries/${encodeURIComponent(fanoutId)}/stream?after=0`);
    source.addEventListener("result", (event) => {
      const target = JSON.parse((event as MessageEvent<string>).data) as TargetResult;
      setTargets((old) => merge(old, [target]));
    });
    const finish = () => {
      source.close();
      setDone(true);
      onDone?.();
    };
    source.addEventListener("done", finish);
    // Refused for good (EventSource gives up on a 4xx): read the fan-out's view instead.
    source.onerror = () => {
      if (source.readyState !== EventSource.CLOSED) return;
      api<FanoutView>("GET", `/api/v1/queries/${encodeURIComponent(fanoutId)}`).then(
        (view) => {
          setTargets((old) => merge(old, view.targets));
          if (view.status === "done") finish();
          else setError("The result stream closed; reload to follow the rest.");
        },
        (err: unknown) => setError(describeError(err)),
      );
    };
    return () => source.close();
  }, [fanoutId, done]);

  const all = [...targets.values()].sort((a, b) => (a.resultSeq ?? Infinity) - (b.resultSeq ?? Infinity));
  const counts: FanoutCounts = { pending: 0, ok: 0, error: 0, timeout: 0, offline: 0, cancelled: 0 };
  for (const t of all) counts[t.status]++;
  const hostname = (id: string) => fleet.agents.get(id)?.hostname ?? id;

  const columns = ["agent"];
  for (const t of all) for (const c of t.result?.columns ?? []) if (!columns.includes(c)) columns.push(c);
  const rows: Cell[][] = [];
  for (const t of all) {
    if (t.result === null) continue;
    const at = t.result.columns.map((c) => columns.indexOf(c));
    for (const row of t.result.rows) {
      const merged: Cell[] = new Array<Cell>(columns.length).fill(null);
      merged[0] = hostname(t.agentId);
      row.forEach((cell, i) => (merged[at[i]!] = cell));
      rows.push(merged);
    }
  }
  const merged: Table = { columns, rows };
  const durations = all.filter((t) => t.durationMs !== null).map((t) => t.durationMs!);

  return (
    <div class="fanout" data-testid="fanout" data-done={done ? "true" : "false"}>
      {error !== "" && <p class="error">{error}</p>}
      <div class="fanout-summary">
        <div class="status-counts">
          {COUNTED.map((s) => (
            <span class={`count q-${s}`} data-testid={`fanout-${s}`}>
              <span class="dot" />
              {s} <strong>{counts[s]}</strong>
            </span>
          ))}
          <span class="muted" data-testid="fanout-state">
            {done ? "done" : `running · ${all.length - counts.pending} of ${all.length} answered`}
          </span>
        </div>
        <Histogram durations={durations} />
      </div>
      <table class="grid-table targets" data-testid="targets">
        <thead>
          <tr>
            <th>#</th>
            <th>Agent</th>
            <th>Status</th>
            <th>Duration</th>
            <th>Rows</th>
            <th>Error</th>
          </tr>
        </thead>
        <tbody>
          {all.map((t) => (
            <tr data-testid="target-row" data-agent={t.agentId} data-status={t.status}>
              <td>{t.resultSeq ?? ""}</td>
              <td>
                <a href={href("agents", t.agentId)}>{hostname(t.agentId)}</a>
              </td>
              <td>
                <span class={`badge q-${t.status}`}>{t.status}</span>
              </td>
              <td>{formatDuration(t.durationMs)}</td>
              <td>{t.result?.rowCount ?? "—"}</td>
              <td>{t.error === null ? "" : <CellText cell={`${t.error.code}: ${t.error.message}`} />}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Results</h2>
      <ResultTable table={merged} name={fanoutId} />
    </div>
  );
}

/** The targets with `landed` merged in; a landed result never goes back to pending. */
function merge(old: Map<string, TargetResult>, landed: TargetResult[]): Map<string, TargetResult> {
  const next = new Map(old);
  for (const t of landed) {
    const have = next.get(t.agentId);
    if (have === undefined || have.status === "pending") next.set(t.agentId, t);
  }
  return next;
}
