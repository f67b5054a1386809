import type { Command } from "commander";
import type { QueryResult } from "@uplink/protocol";
import type { ApiClient } from "../client.js";
import { cellText, renderTable } from "../format.js";
import type { CliContext } from "../context.js";

export interface QueryAnswer {
  correlationId: string;
  agentId: string;
  result: QueryResult;
  durationMs: number;
}

/** Runs one query on one agent. */
export async function queryAgent(client: ApiClient, agentId: string, body: { query: string; collector?: string; timeoutMs?: number }): Promise<QueryAnswer> {
  return (await client.request<QueryAnswer>("POST", `/api/v1/agents/${encodeURIComponent(agentId)}/query`, body)).data;
}

/** A query result for people: the table, then `N rows in X ms`. */
export function renderResult(answer: QueryAnswer): string {
  const { result } = answer;
  const table = renderTable(result.columns, result.rows.map((r) => r.map(cellText)));
  const note = `${result.rowCount} row${result.rowCount === 1 ? "" : "s"}${result.truncated ? " (truncated)" : ""} in ${answer.durationMs.toFixed(1)} ms · ${answer.correlationId}`;
  return `${table}${note}`;
}

export function registerQuery(program: Command, context: () => CliContext): void {
  program
    .command("query <agentId> <sql>")
    .description("run a read-only SQL query on one agent")
    .option("--collector <name>", "collector that answers (default host)")
    .option("--timeout <ms>", "deadline in milliseconds", (v: string) => Number.parseInt(v, 10))
    .action(async (agentId: string, sql: string, opts: { collector?: string; timeout?: number }) => {
      const { client, json, out } = context();
      const answer = await queryAgent(client, agentId, {
        query: sql,
        ...(opts.collector ? { collector: opts.collector } : {}),
        ...(opts.timeout !== undefined ? { timeoutMs: opts.timeout } : {}),
      });
      out(json ? JSON.stringify(answer) : renderResult(answer));
    });
}
