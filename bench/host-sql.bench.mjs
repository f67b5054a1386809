// Cost of the agent's host SQL engine, end to end through the host collector: a query goes to a pooled
// worker process, the worker reads the live tables and SQLite evaluates it, and the result comes back
// over IPC. Imports the compiled agent, so run `pnpm build` first.
//
//   node bench/host-sql.bench.mjs            (BENCH_ITERATIONS=200 for steadier tails)
//
// The processes table is also timed against today's workers: one collector whose workers run with the
// agent's V8 settings (WORKER_V8_FLAGS) and one with Node's defaults, queried in alternation so that the
// machine's load falls on both alike. Target: no slower (ratio ≤ 1.0); floor: `select 1` on the same worker.
//
// Figures: per query mean/p50/p99/min/max in ms over N runs after a warm-up, plus the cold start (the
// first query of a fresh collector, which forks its worker). `select 1` is the floor: IPC round trip only.
// Every table is measured with `select * from <table>` (file and hash on /etc/passwd; secret tables enabled).
import { pathToFileURL } from "node:url";

const { createHostCollector } = await import(new URL("../packages/agent/dist/sql/host-collector.js", import.meta.url).href);
const { localAgentInfo } = await import(new URL("../packages/agent/dist/sql/agent-info.js", import.meta.url).href);
const { HOST_TABLES } = await import(new URL("../packages/agent/dist/sql/tables/index.js", import.meta.url).href);
const { WORKER_V8_FLAGS } = await import(new URL("../packages/agent/dist/v8-flags.js", import.meta.url).href);

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
const PROCESSES = "select * from processes";

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
    return { bench: "host-sql", iterations, coldStartMs, queries, processesVsToday: await processesVsToday(iterations * 2, warmup), platform: process.platform, node: process.version };
  } finally {
    await collector.close();
  }
}

/**
 * `select * from processes` on workers with the agent's V8 settings and on workers with Node's defaults
 * (the agent before it had settings of its own), alternating which goes first; `select 1` on the former
 * is the floor (the IPC round trip alone).
 */
export async function processesVsToday(iterations, warmup) {
  const sides = { agent: WORKER_V8_FLAGS, today: [] };
  const collectors = Object.fromEntries(Object.entries(sides).map(([k, flags]) => [k, createHostCollector({ agentInfo: localAgentInfo, poolSize: 1, workerV8Flags: flags })]));
  const run = (side, sql) => collectors[side].query(sql, { ...CTX, signal: new AbortController().signal });
  try {
    const samples = { agent: [], today: [], floor: [] };
    for (let i = 0; i < warmup; i++) for (const side of Object.keys(sides)) await run(side, PROCESSES);
    for (let i = 0; i < iterations; i++) {
      for (const side of i % 2 === 0 ? ["agent", "today"] : ["today", "agent"]) {
        const t0 = performance.now();
        await run(side, PROCESSES);
        samples[side].push(performance.now() - t0);
      }
      const t0 = performance.now();
      await run("agent", "select 1");
      samples.floor.push(performance.now() - t0);
    }
    const agent = summarize(samples.agent);
    const today = summarize(samples.today);
    const ratio = (a, b) => Math.round((a / b) * 100) / 100;
    return { workerV8Flags: WORKER_V8_FLAGS, agent, today, floor: summarize(samples.floor), meanRatio: ratio(agent.meanMs, today.meanMs), p50Ratio: ratio(agent.p50Ms, today.p50Ms), target: 1 };
  } finally {
    await Promise.all(Object.values(collectors).map((c) => c.close()));
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
    "",
    ...formatVsToday(figures.processesVsToday),
  ].join("\n");
}

export function formatVsToday(v) {
  if (v === undefined) return [];
  const line = (name, q) => `${name.padEnd(44)} mean ${String(q.meanMs).padStart(7)} ms  p50 ${String(q.p50Ms).padStart(7)} ms  p99 ${String(q.p99Ms).padStart(7)} ms`;
  return [
    `select * from processes, ${v.agent.runs} runs each, alternating`,
    line(`workers with ${v.workerV8Flags.join(" ")}`, v.agent),
    line("workers with Node's defaults (today)", v.today),
    line("floor: select 1 (IPC round trip)", v.floor),
    `ratio agent/today: mean ${v.meanRatio}, p50 ${v.p50Ratio}   target ≤ ${v.target} (no slower): ${v.p50Ratio <= v.target ? "ok" : "slower"}`,
  ];
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const figures = await run();
  process.stdout.write(`${JSON.stringify(figures)}\n\n${formatTable(figures)}\n`);
}
