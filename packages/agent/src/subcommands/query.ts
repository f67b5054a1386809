import { DEFAULT_MAX_RESULT_BYTES, DEFAULT_MAX_RESULT_ROWS, DEFAULT_QUERY_TIMEOUT_MS, printable, type Cell, type QueryResult } from "@uplink/protocol";
import type { Command } from "commander";
import type { Collector } from "../collectors/collector.js";
import { readFile } from "node:fs/promises";
import { parseConfig } from "../config.js";
import { ConfigError, toWireError } from "../errors.js";
import { localAgentInfo } from "../sql/agent-info.js";
import { createHostCollector } from "../sql/host-collector.js";
import { settingOption, settingsFrom } from "./cli.js";

/** Options of {@link runQuery}; the caps and deadline default to the daemon's (docs/architecture.md, "Limits"). */
export interface QueryCommandOptions {
  /** Print the QueryResult as JSON instead of a text table. */
  json?: boolean;
  timeoutMs?: number;
  maxRows?: number;
  maxBytes?: number;
  /** Memory the query's worker may hold, in MiB (default: the daemon's). */
  workerMemoryMb?: number;
  /** Directory the tables read as the host's `/` (default `/`). */
  hostRoot?: string;
  /** Answer the tables that expose secrets or personal data. */
  secretTablesEnabled?: boolean;
  /** The collector to ask instead of a fresh host collector; it is left open (tests inject one). */
  collector?: Collector;
}

/** Text cells longer than this are cut with "…" in the table view (never in `--json`). */
const MAX_CELL_WIDTH = 60;

/**
 * The work of `uplink-agent query "<sql>"`: runs the query locally with the host collector (no hub)
 * and returns what to print, without a final newline: an aligned text table, or the QueryResult JSON.
 * Throws `CollectorError` as the collector does (`read_only`, `query_failed`, `timeout`, ...).
 */
export async function runQuery(sql: string, options: QueryCommandOptions = {}): Promise<string> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
  const maxRows = options.maxRows ?? DEFAULT_MAX_RESULT_ROWS;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_RESULT_BYTES;
  const collector =
    options.collector ??
    createHostCollector({
      agentInfo: () => ({ ...localAgentInfo(), maxResultRows: maxRows, maxResultBytes: maxBytes, queryTimeoutMs: timeoutMs }),
      poolSize: 1,
      ...(options.workerMemoryMb !== undefined ? { workerMemoryMb: options.workerMemoryMb } : {}),
      ...(options.hostRoot !== undefined ? { hostRoot: options.hostRoot } : {}),
      ...(options.secretTablesEnabled !== undefined ? { secretTablesEnabled: options.secretTablesEnabled } : {}),
    });
  try {
    const result = await collector.query(sql, { signal: new AbortController().signal, timeoutMs, maxRows, maxBytes });
    return options.json === true ? JSON.stringify(result) : formatResult(result);
  } finally {
    if (options.collector === undefined) await collector.close();
  }
}

/**
 * Renders a result as an aligned text table: a header, a rule, one line per row (numbers right-aligned,
 * NULL spelled out, control characters escaped, long text cut), then a count that says when the
 * result was truncated by the caps.
 */
export function formatResult(result: QueryResult): string {
  const cells = result.rows.map((row) => row.map(displayCell));
  const numeric = result.columns.map((_, i) => result.rows.length > 0 && result.rows.every((r) => typeof r[i] === "number" || r[i] === null));
  const columns = result.columns.map(printable);
  const widths = columns.map((name, i) => Math.max(name.length, ...cells.map((r) => (r[i] ?? "").length)));
  const line = (values: string[], rightAlign: boolean[]): string =>
    values
      .map((v, i) => (rightAlign[i] ? v.padStart(widths[i] ?? 0) : v.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  const count = `(${result.rowCount} ${result.rowCount === 1 ? "row" : "rows"}${result.truncated ? ", truncated by the result caps" : ""})`;
  if (result.columns.length === 0) return count;
  return [
    line(columns, numeric),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...cells.map((r) => line(r, numeric)),
    count,
  ].join("\n");
}

function displayCell(cell: Cell | undefined): string {
  if (cell === null || cell === undefined) return "NULL";
  const text = printable(String(cell));
  return text.length > MAX_CELL_WIDTH ? `${text.slice(0, MAX_CELL_WIDTH - 1)}…` : text;
}

/** Parses a positive integer flag (or its environment variable), naming both in the error. */
function positiveInt(setting: string, raw: unknown): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0) throw new ConfigError(setting, `expected a positive integer, got ${String(raw)}`);
  return n;
}

/**
 * The SQL of `uplink-agent query`: the argument, or the content of `-f FILE` (`-f -` reads stdin), so that
 * a query may begin with a `--` comment (which the shell would otherwise pass as a flag). Exactly one of
 * the two must be given.
 */
export async function querySource(sql: string | undefined, file: string | undefined, stdin: NodeJS.ReadableStream = process.stdin): Promise<string> {
  if ((sql === undefined) === (file === undefined)) throw new ConfigError("query", 'give the SQL as an argument or with -f FILE (-f - reads stdin), not both');
  if (file === undefined) return sql as string;
  if (file !== "-") {
    try {
      return await readFile(file, "utf8");
    } catch (err) {
      throw new ConfigError("-f", `cannot read ${file}: ${(err as Error).message}`);
    }
  }
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * Wires `uplink-agent query "<sql>" [--json] [--query-timeout-ms ms] [--max-result-rows n] [--max-result-bytes b]`
 * (the limits share the daemon's flags and UPLINK_* variables). Prints the result to stdout; a failure
 * prints `error [code]: message` to stderr and sets a non-zero `process.exitCode`.
 */
export function registerQuery(program: Command): Command {
  return program
    .command("query")
    .description("run a read-only SQL query against this host's tables, locally, without a hub")
    .argument("[sql]", "the query, e.g. \"select pid, name from processes order by resident_size desc limit 5\"")
    .option("-f, --file <file>", "read the query from FILE (- for stdin); it may begin with a -- comment")
    .option("--json", "print the QueryResult JSON instead of a table")
    .addOption(settingOption("hostRoot"))
    .addOption(settingOption("enableSecretTables"))
    .addOption(settingOption("queryTimeoutMs"))
    .addOption(settingOption("maxResultRows"))
    .addOption(settingOption("maxResultBytes"))
    .addOption(settingOption("workerMemoryMb"))
    .action(async (sqlArg: string | undefined, options: Record<string, unknown>) => {
      try {
        const sql = await querySource(sqlArg, typeof options.file === "string" ? options.file : undefined);
        const { hostRoot, enableSecretTables } = settingsFrom(options);
        const config = parseConfig({ hostRoot, enableSecretTables });
        const output = await runQuery(sql, {
          hostRoot: config.hostRoot,
          secretTablesEnabled: config.enableSecretTables,
          json: options.json === true,
          timeoutMs: positiveInt("--query-timeout-ms / UPLINK_QUERY_TIMEOUT_MS", options.queryTimeoutMs),
          maxRows: positiveInt("--max-result-rows / UPLINK_MAX_RESULT_ROWS", options.maxResultRows),
          maxBytes: positiveInt("--max-result-bytes / UPLINK_MAX_RESULT_BYTES", options.maxResultBytes),
          workerMemoryMb: positiveInt("--worker-memory-mb / UPLINK_WORKER_MEMORY_MB", options.workerMemoryMb),
        });
        process.stdout.write(`${output}\n`);
      } catch (err) {
        const { code, error } = toWireError(err);
        process.stderr.write(`error [${code}]: ${printable(error)}\n`);
        process.exitCode = 1;
      }
    });
}
