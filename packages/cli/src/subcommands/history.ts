import type { Command } from "commander";
import { renderTable } from "../format.js";
import type { CliContext } from "../context.js";

export function registerHistory(program: Command, context: () => CliContext): void {
  program
    .command("history")
    .description("the query audit, newest first")
    .option("--agent <id>", "only queries to this agent")
    .option("--limit <n>", "rows (default 50, at most 500)")
    .option("--before <seq>", "rows older than this seq (paging)")
    .action(async (opts: { agent?: string; limit?: string; before?: string }) => {
      const { client, json, out } = context();
      // Sent as typed; the hub answers 400 for a limit or a cursor that is not a number in range.
      const { data } = await client.listQueries({
        ...(opts.agent ? { agentId: opts.agent } : {}),
        ...(opts.limit ? { limit: Number(opts.limit) } : {}),
        ...(opts.before ? { before: Number(opts.before) } : {}),
      });
      if (json) return out(JSON.stringify(data));
      const table = renderTable(
        ["SEQ", "TIME", "AGENT", "BY", "STATUS", "MS", "QUERY"],
        data.queries.map((q) => [String(q.seq), q.createdAt, q.agentId, q.requester, q.error ? `${q.status}:${q.error.code}` : q.status, q.durationMs === null ? "" : q.durationMs.toFixed(1), q.query.replace(/\s+/g, " ").slice(0, 80)]),
      );
      out(`${table}${data.nextBefore === null ? "" : `more: --before ${data.nextBefore}`}`.trimEnd());
    });
}
