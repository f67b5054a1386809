// Cost of the agent's host SQL engine, end to end through the host collector: a query goes to a pooled
// worker process, the worker reads the live tables and SQLite evaluates it, and the result comes back
// over IPC. Imports the compiled agent, so run `pnpm build` first.
//
//   node bench/host-sql.bench.mjs            (BENCH_ITERATIONS=200 for steadier tails)
//
// Figures: per query mean/p50/p99/min/max in ms over N runs after a warm-up, plus the cold start (the
// first query of a fresh collector, which forks its worker). `select 1` is the floor: IPC round trip only.
// Every table is measured with `select * from <table>` (file and hash on /etc/passwd; secret tables enabled).
import { pathToFileURL } from "node:url";

const { createHostCollector } = await import(new URL("../packages/agent/dist/sql/host-collector.js", import.meta.url).href);
const { localAgentInfo } = await import(new URL("../packages/agent/dist/sql/agent-info.js", import.meta.url).href);
const { HOST_TABLES } = await import(new URL("../packages/agent/dist/sql/tables/index.js", import.meta.url).href);

/** The ten tables of the survey query (join-free: one count(*) subquery each). */
export const SURVEY_TABLES = [
  "system_info",
  "os_version",
  "cpu_time",
  "load_average",
  "memory_info",
  "mounts",
  "interface_addresses",
  "processes",
  "listening_ports",
  "users",
];

/** A table that needs a constraint is measured on one file. */
const tableQuery = (t) => `select * from ${t.name}${t.constraints === undefined ? "" : " where path = '/etc/passwd'"}`;

export const QUERIES = {
  "select 1": "select 1",
  "processes (pid, name only)": "select pid, name from processes",
  "10-table survey": `select ${SURVEY_TABLES.map((t) => `(select count(*) from ${t}) as ${t}`).join(", ")}`,
  ...Object.fromEntries(HOST_TABLES.map((t) => [t.name, tableQuery(t)])),
};

const CTX = { timeoutMs: 30_000, maxRows: 10_000, maxBytes: 4 * 1024 * 1024 };

function summarize(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  const round = (ms) => Math.round(ms * 1000) / 1000;
  return {
    runs: samples.length,
    meanMs: round(samples.reduce((s, x) => s + x, 0) / samples.length),
    p50Ms: round(at(0.5)),
    p99Ms: round(at(0.99)),
    minMs: round(sorted[0]),
    maxMs: round(sorted[sorted.length - 1]),
  };
}

/**
 * Runs the benchmark and returns its figures: `{ iterations, coldStartMs, queries: { name: { rows, runs,
 * meanMs, p50Ms, p99Ms, minMs, maxMs } }, platform, node }`. Closes everything it started.
 */
export async function run({ iterations = Number(process.env.BENCH_ITERATIONS ?? 50), warmup = 3 } = {}) {
  const collector = createHostCollector({ agentInfo: localAgentInfo, poolSize: 1, secretTablesEnabled: true });
  const query = (sql) => collector.query(sql, { ...CTX, signal: new AbortController().signal });
  try {
    const coldStart = performance.now();
    await query("select 1");
    const coldStartMs = Math.round((performance.now() - coldStart) * 1000) / 1000;
    const queries = {};
    for (const [name, sql] of Object.entries(QUERIES)) {
      let rows = 0;
      for (let i = 0; i < warmup; i++) rows = (await query(sql)).rowCount;
      const samples = [];
      for (let i = 0; i < iterations; i++) {
        const t0 = performance.now();
        await query(sql);
        samples.push(performance.now() - t0);
      }
      queries[name] = { rows, ...summarize(samples) };
    }
    return { bench: "host-sql", iterations, coldStartMs, queries, platform: process.platform, node: process.version };
  } finally {
    await collector.close();
  }
}

/** A readable table of the figures. */
export function formatTable(figures) {
  const header = ["query", "rows", "mean ms", "p50 ms", "p99 ms", "max ms"];
  const lines = Object.entries(figures.queries).map(([name, q]) => [name, q.rows, q.meanMs, q.p50Ms, q.p99Ms, q.maxMs].map(String));
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const row = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [
    `host SQL engine — ${figures.iterations} runs per query, cold start ${figures.coldStartMs} ms (${figures.platform}, node ${figures.node})`,
    row(header),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...lines.map(row),
  ].join("\n");
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const figures = await run();
  process.stdout.write(`${JSON.stringify(figures)}\n\n${formatTable(figures)}\n`);
}
