import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import type { ApiClient, Schemas } from "../client.js";
import { cellText, printable, renderTable } from "../format.js";
import { UsageError, type CliContext } from "../context.js";
import { EXIT_CODES } from "../exit-codes.js";
import { collectFanout, type FanoutOutcome } from "./fanout.js";
import { collect, parseLabels } from "../targets.js";

/** Runs one query on one agent. */
export async function queryAgent(client: ApiClient, agentId: string, body: Schemas["AgentQueryRequest"]): Promise<Schemas["QueryAnswer"]> {
  return (await client.queryAgent(agentId, body)).data;
}

/** A query result for people: the table, then `N rows in X ms`. */
export function renderResult(answer: Schemas["QueryAnswer"]): string {
  const { result } = answer;
  const table = renderTable(result.columns, result.rows.map((r) => r.map(cellText)));
  const note = printable(`${result.rowCount} row${result.rowCount === 1 ? "" : "s"}${result.truncated ? " (truncated)" : ""} in ${answer.durationMs.toFixed(1)} ms · ${answer.correlationId}`);
  return `${table}${note}`;
}

/** A fan-out's results for people: one merged table with an AGENT column, then the per-target summary. */
export function renderFanout(outcome: FanoutOutcome): string {
  const columns: string[] = [];
  for (const t of outcome.targets) for (const c of t.result?.columns ?? []) if (!columns.includes(c)) columns.push(c);
  const rows: string[][] = [];
  for (const t of outcome.targets) {
    if (t.result === null) continue;
    const index = columns.map((c) => t.result!.columns.indexOf(c));
    for (const r of t.result.rows) rows.push([t.agentId, ...index.map((i) => (i < 0 ? "" : cellText(r[i])))]);
  }
  const lines = [rows.length > 0 ? renderTable(["AGENT", ...columns], rows).trimEnd() : "(no rows)", "", countsLine(outcome)];
  for (const t of outcome.targets) if (t.status !== "ok") lines.push(printable(`  ${t.agentId}  ${t.status}  ${t.error?.code ?? ""}: ${t.error?.message ?? ""}`));
  return lines.join("\n");
}

/** `N targets: 2 ok · 1 error · … · fan_…` (cancelled and pending only when there are some). */
export function countsLine(fanout: { id: string; targetCount: number; counts: FanoutOutcome["counts"] }): string {
  const c = fanout.counts;
  const extra = `${c.cancelled > 0 ? ` · ${c.cancelled} cancelled` : ""}${c.pending > 0 ? ` · ${c.pending} pending` : ""}`;
  return `${fanout.targetCount} target${fanout.targetCount === 1 ? "" : "s"}: ${c.ok} ok · ${c.error} error · ${c.timeout} timeout · ${c.offline} offline${extra} · ${fanout.id}`;
}

/**
 * The SQL text of `uplink query`: the last positional argument, or the content of `-f FILE` (`-f -`
 * reads stdin), so that a query may begin with a `--` comment (which a shell argument would turn into
 * an option). Returns the SQL and the positionals left for the target.
 */
export async function readQuerySource(target: string[], file: string | undefined, stdin: NodeJS.ReadableStream = process.stdin): Promise<{ sql: string; rest: string[] }> {
  if (file === undefined) return { sql: target[target.length - 1] ?? "", rest: target.slice(0, -1) };
  if (file !== "-") {
    try {
      return { sql: await readFile(file, "utf8"), rest: target };
    } catch (err) {
      throw new UsageError(`cannot read the query file ${file}: ${(err as Error).message}`);
    }
  }
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return { sql: Buffer.concat(chunks).toString("utf8"), rest: target };
}

export function registerQuery(program: Command, context: () => CliContext): void {
  program
    .command("query [target...]")
    .usage('<agentId> "<sql>" | --label k=v "<sql>" | --all "<sql>" | <agentId> -f FILE|-')
    .description("run a read-only SQL query on one agent, or on every agent with the labels (--label) or on all (--all)")
    .option("--label <k=v>", "fan out to agents with this label (repeatable; all must match)", collect, [] as string[])
    .option("--all", "fan out to every agent")
    .option("--collector <name>", "collector that answers (default host)")
    .option("--timeout <ms>", "deadline in milliseconds", (v: string) => Number.parseInt(v, 10))
    .option("-f, --file <file>", "read the SQL from FILE (- for stdin) instead of an argument; it may begin with a -- comment")
    .action(async (target: string[], opts: { label: string[]; all?: boolean; collector?: string; timeout?: number; file?: string }) => {
      const ctx = context();
      const fanout = opts.all === true || opts.label.length > 0;
      const expected = (fanout ? 1 : 2) - (opts.file === undefined ? 0 : 1);
      if (target.length !== expected) {
        throw new UsageError(
          fanout
            ? 'give one "<sql>" (or -f FILE) with --label or --all'
            : 'give <agentId> "<sql>" (or <agentId> -f FILE), or --label k=v / --all with "<sql>"',
        );
      }
      const source = await readQuerySource(target, opts.file);
      const body = {
        query: source.sql,
        ...(opts.collector ? { collector: opts.collector } : {}),
        ...(opts.timeout !== undefined ? { timeoutMs: opts.timeout } : {}),
      };
      if (!fanout) {
        const answer = await queryAgent(ctx.client, source.rest[0]!, body);
        ctx.out(ctx.json ? JSON.stringify(answer) : renderResult(answer));
        return;
      }
      const labels = parseLabels(opts.label);
      const outcome = await collectFanout(ctx, { ...body, targets: opts.all ? { all: true } : { labels } });
      if (ctx.json) ctx.out(JSON.stringify({ type: "summary", id: outcome.id, targetCount: outcome.targetCount, counts: outcome.counts, ...(outcome.complete ? {} : { complete: false }) }));
      else ctx.out(renderFanout(outcome));
      if (!outcome.complete) {
        process.stderr.write(`uplink: stopped waiting for ${outcome.id}: the hub has not finished it; ${outcome.counts.pending} of ${outcome.targetCount} targets still pending\n`);
      }
      if (outcome.counts.ok !== outcome.targetCount) process.exitCode = EXIT_CODES.targetsFailed;
    });
}
