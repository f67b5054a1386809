// How tightly the query worker's memory bound holds: memory-hungry queries run through the host collector
// with a given --worker-memory-mb, and the figures are the resident size at which the watchdog killed the
// worker (from the resource_limit message) and the time to the refusal. Linux only (the watchdog reads
// /proc). Imports the compiled agent, so run `pnpm build` first.
//
// Then the footprint of live workers: four at once (the default maxInflight), each having answered
// `select * from processes` ten times; what each adds is its unique memory (USS: what its exit gives
// back; the Node binary's and the libraries' pages it shares with the daemon are not its own). Target
// ≤ 30 MB per worker; floor: a bare `node` that loaded nothing, measured in the same run.
//
//   node bench/worker-memory.bench.mjs
import { pathToFileURL } from "node:url";
import { bareNodeMemory, childrenOf, memoryOf } from "./lib/memory.mjs";

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
  return { bench: "worker-memory", runs, liveWorkers: await liveWorkers(), node: process.version };
}

/** Four live workers after ten `select * from processes` each: their memory, next to a bare node's. */
export async function liveWorkers({ workers = 4, rounds = 10 } = {}) {
  const floor = await bareNodeMemory();
  const collector = createHostCollector({ agentInfo: localAgentInfo, poolSize: workers });
  try {
    const ctx = () => ({ signal: new AbortController().signal, timeoutMs: 30_000, maxRows: 10_000, maxBytes: 4 * 1024 * 1024 });
    for (let i = 0; i < rounds; i++) await Promise.all(Array.from({ length: workers }, () => collector.query("select * from processes", ctx())));
    const each = childrenOf(process.pid).map(memoryOf).filter((m) => m !== null);
    const max = (k) => Math.max(...each.map((m) => m[k]));
    return { workers: each.length, rounds, each, maxUssMb: max("ussMb"), maxRssMb: max("rssMb"), floor, targetUssMb: 30 };
  } finally {
    await collector.close();
  }
}

/** A readable table of the figures. */
export function formatTable(figures) {
  if (figures.skipped !== undefined) return `worker memory bound — skipped: ${figures.skipped}`;
  const header = ["limit MiB", "query", "answer", "killed at MiB", "ms"];
  const lines = figures.runs.map((r) => [String(r.limitMiB), r.query, r.code, String(r.killedAtMiB ?? "-"), String(r.ms)]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const row = (cells) => cells.map((c, i) => (i === 1 || i === 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  const live = figures.liveWorkers;
  return [
    `worker memory bound (node ${figures.node})`,
    row(header),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...lines.map(row),
    "",
    `${live.workers} live workers after ${live.rounds} × select * from processes each (floor: bare node ${live.floor?.rssMb} MB RSS, ${live.floor?.ussMb} MB unique)`,
    `adds (USS) per worker MB: ${live.each.map((m) => m.ussMb).join(", ")}   max ${live.maxUssMb}   target ≤ ${live.targetUssMb}: ${live.maxUssMb <= live.targetUssMb ? "ok" : "over target"}`,
    `RSS per worker MB:        ${live.each.map((m) => m.rssMb).join(", ")}   (PSS ${live.each.map((m) => m.pssMb).join(", ")})`,
  ].join("\n");
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const figures = await run();
  process.stdout.write(`${JSON.stringify(figures)}\n\n${formatTable(figures)}\n`);
}
