// How tightly the query worker's memory bound holds: memory-hungry queries run through the host collector
// with a given --worker-memory-mb, and the figures are the resident size at which the watchdog killed the
// worker (from the resource_limit message) and the time to the refusal. Linux only (the watchdog reads
// /proc). Imports the compiled agent, so run `pnpm build` first.
//
//   node bench/worker-memory.bench.mjs
import { pathToFileURL } from "node:url";

const { createHostCollector } = await import(new URL("../packages/agent/dist/sql/host-collector.js", import.meta.url).href);
const { localAgentInfo } = await import(new URL("../packages/agent/dist/sql/agent-info.js", import.meta.url).href);

const QUERIES = {
  "two 250 MB random blobs": "select length(randomblob(250000000)) + length(randomblob(250000000))",
  "materialised zeroblob CTE": "with recursive x(n, b) as (select 1, zeroblob(50000000) union all select n + 1, zeroblob(50000000) from x where n < 40) select count(*), sum(length(b)) from (select * from x order by n desc)",
};

/** Runs the benchmark: `{ runs: [{ limitMiB, query, code, killedAtMiB, ms }] }`. */
export async function run({ limits = [128, 256] } = {}) {
  if (process.platform !== "linux") return { bench: "worker-memory", skipped: "the watchdog reads /proc: Linux only" };
  const runs = [];
  for (const limitMiB of limits) {
    const collector = createHostCollector({ agentInfo: localAgentInfo, poolSize: 1, workerMemoryMb: limitMiB });
    try {
      await collector.query("select 1", { signal: new AbortController().signal, timeoutMs: 30_000, maxRows: 10, maxBytes: 4096 });
      for (const [query, sql] of Object.entries(QUERIES)) {
        const t0 = performance.now();
        const outcome = await collector.query(sql, { signal: new AbortController().signal, timeoutMs: 120_000, maxRows: 10, maxBytes: 4096 }).then(
          () => ({ code: "ok", message: "" }),
          (err) => ({ code: err.code, message: err.message }),
        );
        const killedAt = /\((\d+) MiB\)/.exec(outcome.message);
        runs.push({ limitMiB, query, code: outcome.code, killedAtMiB: killedAt === null ? null : Number(killedAt[1]), ms: Math.round(performance.now() - t0) });
      }
    } finally {
      await collector.close();
    }
  }
  return { bench: "worker-memory", runs, node: process.version };
}

/** A readable table of the figures. */
export function formatTable(figures) {
  if (figures.skipped !== undefined) return `worker memory bound — skipped: ${figures.skipped}`;
  const header = ["limit MiB", "query", "answer", "killed at MiB", "ms"];
  const lines = figures.runs.map((r) => [String(r.limitMiB), r.query, r.code, String(r.killedAtMiB ?? "-"), String(r.ms)]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const row = (cells) => cells.map((c, i) => (i === 1 || i === 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [`worker memory bound (node ${figures.node})`, row(header), widths.map((w) => "-".repeat(w)).join("  "), ...lines.map(row)].join("\n");
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const figures = await run();
  process.stdout.write(`${JSON.stringify(figures)}\n\n${formatTable(figures)}\n`);
}
