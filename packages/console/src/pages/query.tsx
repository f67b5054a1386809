import type { FanoutStarted, FanoutView, QueryAnswer } from "@uplink/protocol";
import { useEffect, useRef, useState } from "preact/hooks";
import { SqlEditor } from "../components/sql-editor.js";
import { ResultTable } from "../components/result-table.js";
import { allows, api, ApiError, describeError, queryString, type Session } from "../lib/api.js";
import { useFleet } from "../lib/fleet-store.js";
import { formatDuration, parseLabels } from "../lib/format.js";
import type { HubSchema } from "@uplink/protocol";
import { FanoutResults } from "./fanout-results.js";

type Target = "agent" | "labels" | "all";

/** What ran last: a single agent's answer (or failure), or a fan-out followed as it lands. */
type Run =
  | { kind: "single"; running: true; agentId: string }
  | { kind: "single"; running: false; agentId: string; answer?: QueryAnswer; error?: string }
  | { kind: "fanout"; id: string; targetCount: number; done: boolean; cancelling?: boolean; cancelled?: FanoutView };

/** The schema last learned, kept across visits: a 409 (no agent online) keeps what was known. */
let knownSchema: HubSchema | null = null;

/** The SQL editor, the target (one agent, labels or all), Run (Ctrl/Cmd+Enter), cancel, and the results. */
export function QueryPage({ session, initialAgent }: { session: Session; initialAgent: string | undefined }) {
  const fleet = useFleet();
  const [sql, setSql] = useState("SELECT * FROM system_info;");
  const [target, setTarget] = useState<Target>("agent");
  const [agentId, setAgentId] = useState(initialAgent ?? "");
  const [labelText, setLabelText] = useState("");
  const [timeoutS, setTimeoutS] = useState("");
  const [schema, setSchema] = useState(knownSchema);
  const [schemaNote, setSchemaNote] = useState("");
  const [run, setRun] = useState<Run | null>(null);
  const [error, setError] = useState("");
  const abort = useRef<AbortController | null>(null);
  const canRun = allows(session.scope, "query");

  const agents = [...fleet.agents.values()].filter((a) => a.status !== "offline" || a.id === agentId).sort((a, b) => a.hostname.localeCompare(b.hostname));
  useEffect(() => {
    if (agentId === "" && agents.length > 0) setAgentId(agents[0]!.id);
  }, [agents.length]);

  const schemaAgent = target === "agent" && agentId !== "" ? agentId : undefined;
  useEffect(() => {
    if (!canRun) return;
    api<HubSchema>("GET", "/api/v1/schema" + queryString({ agentId: schemaAgent })).then(
      (answer) => {
        knownSchema = answer;
        setSchema(answer);
        setSchemaNote("");
      },
      (err: unknown) => setSchemaNote(err instanceof ApiError && err.status === 409 ? "No agent online to learn the schema from" : `Schema: ${describeError(err)}`),
    );
  }, [schemaAgent]);

  const running = run !== null && ((run.kind === "single" && run.running) || (run.kind === "fanout" && !run.done));

  async function start(): Promise<void> {
    if (!canRun || running || sql.trim() === "") return;
    setError("");
    const timeoutMs = timeoutS.trim() === "" ? undefined : Math.round(Number(timeoutS) * 1000);
    if (timeoutMs !== undefined && !(timeoutMs > 0)) return setError("The timeout is a number of seconds.");
    if (target === "agent") {
      if (agentId === "") return setError("Choose an agent.");
      const controller = new AbortController();
      abort.current = controller;
      setRun({ kind: "single", running: true, agentId });
      try {
        const answer = await api<QueryAnswer>("POST", `/api/v1/agents/${encodeURIComponent(agentId)}/query`, { query: sql, timeoutMs }, controller.signal);
        setRun({ kind: "single", running: false, agentId, answer });
      } catch (err) {
        const message = controller.signal.aborted ? "Cancelled: the hub cancelled the query on the agent." : describeError(err);
        setRun({ kind: "single", running: false, agentId, error: message });
      }
      return;
    }
    const labels = parseLabels(labelText);
    if (target === "labels" && Object.keys(labels).length === 0) return setError("Name at least one label as k=v.");
    try {
      const started = await api<FanoutStarted>("POST", "/api/v1/queries", { query: sql, timeoutMs, targets: target === "all" ? { all: true } : { labels } });
      setRun({ kind: "fanout", id: started.id, targetCount: started.targetCount, done: false });
    } catch (err) {
      setError(describeError(err));
    }
  }

  async function cancel(): Promise<void> {
    if (run?.kind === "single") return abort.current?.abort();
    if (run?.kind !== "fanout" || run.cancelling) return;
    const { id } = run;
    const update = (change: Partial<Extract<Run, { kind: "fanout" }>>) => setRun((r) => (r?.kind === "fanout" && r.id === id ? { ...r, ...change } : r));
    update({ cancelling: true });
    try {
      // The hub answers once the fan-out ended: its pending targets read cancelled.
      const view = await api<FanoutView>("POST", `/api/v1/queries/${encodeURIComponent(id)}/cancel`);
      update({ cancelling: false, done: true, cancelled: view });
    } catch (err) {
      update({ cancelling: false });
      // It ended on its own meanwhile: the stream brings its last results and `done`.
      if (!(err instanceof ApiError && err.code === "fanout_finished")) setError(describeError(err));
    }
  }

  return (
    <section class="page query">
      <div class="page-head">
        <h1>Query</h1>
        <span class="muted">{schema === null || schema.tables.length === 0 ? schemaNote || (schema === null ? "Loading schema…" : "No tables to complete") : `Completion from ${schema.tables.length} tables (agent ${schema.agentVersion ?? "?"})`}</span>
      </div>
      <SqlEditor value={sql} onChange={setSql} onRun={() => void start()} schema={schema} />
      <div class="filters target">
        <fieldset>
          <legend>Target</legend>
          {(["agent", "labels", "all"] as Target[]).map((t) => (
            <label class="radio">
              <input type="radio" name="target" value={t} checked={target === t} onChange={() => setTarget(t)} />
              {t === "agent" ? "One agent" : t === "labels" ? "Labels" : "All agents"}
            </label>
          ))}
        </fieldset>
        {target === "agent" && (
          <select value={agentId} onChange={(e) => setAgentId(e.currentTarget.value)} data-testid="target-agent" aria-label="Agent">
            {agents.map((a) => (
              <option value={a.id}>
                {a.hostname} ({a.status})
              </option>
            ))}
          </select>
        )}
        {target === "labels" && <input type="text" placeholder="env=prod role=db" value={labelText} onInput={(e) => setLabelText(e.currentTarget.value)} data-testid="target-labels" aria-label="Labels" />}
        <label>
          Timeout (s)
          <input type="number" min="0.1" step="any" class="short" value={timeoutS} onInput={(e) => setTimeoutS(e.currentTarget.value)} data-testid="timeout" placeholder="default" />
        </label>
        <span class="spacer-flex" />
        {canRun ? (
          <>
            {running && (
              <button type="button" onClick={() => void cancel()} disabled={run?.kind === "fanout" && run.cancelling === true} data-testid="cancel">
                Cancel
              </button>
            )}
            <button type="button" class="primary" disabled={running} onClick={() => void start()} data-testid="run" title="Ctrl/Cmd+Enter">
              {running ? "Running…" : "Run"}
            </button>
          </>
        ) : (
          <span class="notice">Your session can read only: running queries needs the query scope.</span>
        )}
      </div>
      {error !== "" && <p class="error">{error}</p>}
      {run?.kind === "single" && <SingleResult run={run} />}
      {run?.kind === "fanout" && (
        <>
          {run.cancelled !== undefined && (
            <p class="notice" data-testid="cancelled">
              Cancelled: {run.cancelled.counts.cancelled} pending target{run.cancelled.counts.cancelled === 1 ? " was" : "s were"} cancelled on {run.cancelled.counts.cancelled === 1 ? "its agent" : "their agents"}.
            </p>
          )}
          <FanoutResults key={run.id} fanoutId={run.id} ended={run.cancelled} onDone={() => setRun((r) => (r?.kind === "fanout" ? { ...r, done: true } : r))} />
        </>
      )}
    </section>
  );
}

function SingleResult({ run }: { run: Extract<Run, { kind: "single" }> }) {
  if (run.running) return <p class="muted" data-testid="single-running">Waiting for the agent…</p>;
  if (run.error !== undefined)
    return (
      <p class="error" data-testid="single-error">
        {run.error}
      </p>
    );
  const answer = run.answer!;
  return (
    <div data-testid="single-result">
      <p class="muted">
        Answered in {formatDuration(answer.durationMs)} · correlation id <span class="mono">{answer.correlationId}</span>
      </p>
      <ResultTable table={answer.result} name={`query-${answer.correlationId}`} truncated={answer.result.truncated} />
    </div>
  );
}
