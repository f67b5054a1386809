// History pruning on the embedded store (SQLite runs on the event loop): a backlog of single-agent audit
// rows past their age is pruned by the hub's Pruner (statements of 500 rows, a turn of the loop between
// them), and — the floor it is measured against, in the same run — by one DELETE of the whole backlog.
// Reported: rows per second, how long each pruning statement holds the loop (p50, p99, max) against how
// long the one DELETE holds it, and the longest stall a 1 ms watch timer saw (on a machine shared with
// other work, a stall can also be the machine's: the idle figure shows its own noise).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRequire } from "node:module";
import { createLogger } from "../packages/hub/dist/logger.js";
import { HubMetrics } from "../packages/hub/dist/metrics.js";
import { DEFAULT_PRUNE_BATCH_ROWS } from "../packages/hub/dist/config.js";
import { Pruner } from "../packages/hub/dist/store/pruner.js";
import { SqliteStore } from "../packages/hub/dist/store/sqlite-store.js";

// better-sqlite3 is the hub package's dependency, not the workspace root's.
const Database = createRequire(new URL("../packages/hub/package.json", import.meta.url))("better-sqlite3");
const ROWS = Number(process.env.PRUNE_BENCH_ROWS ?? 200_000);
const BATCH = Number(process.env.PRUNE_BENCH_BATCH ?? DEFAULT_PRUNE_BATCH_ROWS);
const OFF = { maxAgeMs: 0, maxCount: 0 };

/** A fresh store file holding `ROWS` ended single-agent audit rows created at 1..ROWS ms, and one newer. */
function fill(dir, name) {
  const path = join(dir, name);
  new SqliteStore(path).close();
  const db = new Database(path);
  db.exec(`WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < ${ROWS + 1})
    INSERT INTO query_audit (correlation_id, agent_id, requester, session_id, collector, query, status, created_at, result)
    SELECT 'c' || x, 'agt_' || (x % 1000), 'ops', 's', 'host', 'select 1', 'ok', CASE WHEN x > ${ROWS} THEN 9e12 ELSE x END, '{"rows":[[1,2,3]]}' FROM g`);
  db.close();
  return path;
}

/**
 * Runs `work` while a 1 ms interval timer watches the event loop; resolves {ms, maxStallMs}: the
 * longest gap between two of its ticks, which is how long the loop was held at once.
 */
async function measured(work) {
  let last = performance.now();
  let maxGap = 0;
  const watch = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 1);
  // Let the watch tick once before the work starts, so a stall at the very start is seen.
  await new Promise((resolve) => setTimeout(resolve, 5));
  last = performance.now();
  const t0 = performance.now();
  await work();
  const ms = performance.now() - t0;
  await new Promise((resolve) => setTimeout(resolve, 5));
  clearInterval(watch);
  return { ms, maxStallMs: maxGap };
}

export async function run() {
  const dir = mkdtempSync(join(tmpdir(), "uplink-prune-bench-"));
  try {
    // What the machine alone does to the watch (other processes take the CPU too): the stall of doing nothing.
    const idle = await measured(() => new Promise((resolve) => setTimeout(resolve, 2000)));
    const store = new SqliteStore(fill(dir, "pruner.db"));
    // Each pruning statement timed: what the loop is held for at once by the pruner's own work.
    const statementMs = [];
    const prune = store.history.pruneAudit.bind(store.history);
    store.history.pruneAudit = async (before, limit) => {
      const t0 = performance.now();
      const n = await prune(before, limit);
      statementMs.push(performance.now() - t0);
      return n;
    };
    const settings = { audit: { maxAgeMs: 1, maxCount: 0 }, fanouts: OFF, events: OFF, intervalMs: 60_000, batchRows: BATCH };
    const pruner = new Pruner({ store, metrics: new HubMetrics(), log: createLogger("silent"), settings, now: () => 1e12 });
    let pruned = 0;
    const batched = await measured(async () => (pruned = (await pruner.prune()).audit));
    await store.close();
    if (pruned !== ROWS) throw new Error(`the pruner deleted ${pruned} rows, expected ${ROWS}`);
    statementMs.sort((a, b) => a - b);
    const at = (q) => round(statementMs[Math.min(statementMs.length - 1, Math.floor(q * statementMs.length))]);

    const db = new Database(fill(dir, "floor.db"));
    const oneDelete = await measured(async () => db.prepare("DELETE FROM query_audit WHERE created_at < 1e12").run());
    db.close();
    return {
      rows: ROWS,
      batchRows: BATCH,
      pruner: {
        ms: Math.round(batched.ms),
        rowsPerS: Math.round(ROWS / (batched.ms / 1000)),
        statements: statementMs.length,
        statementMs: { p50: at(0.5), p99: at(0.99), max: round(statementMs.at(-1)) },
        maxStallMs: round(batched.maxStallMs),
      },
      oneDelete: { ms: Math.round(oneDelete.ms), rowsPerS: Math.round(ROWS / (oneDelete.ms / 1000)), maxStallMs: round(oneDelete.maxStallMs) },
      idleMaxStallMs: round(idle.maxStallMs),
      statementP99Ratio: round(at(0.99) / oneDelete.maxStallMs),
      throughputRatio: round(oneDelete.ms / batched.ms),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const round = (n) => Math.round(n * 100) / 100;

export function formatTable(f) {
  const st = f.pruner.statementMs;
  return [
    `pruning ${f.rows} audit rows past their age (SQLite, on the event loop)`,
    `  pruner, ${f.batchRows} rows a statement: ${f.pruner.ms} ms, ${f.pruner.rowsPerS} rows/s; ${f.pruner.statements} statements, each ${st.p50} ms p50, ${st.p99} ms p99, ${st.max} ms max; longest loop stall ${f.pruner.maxStallMs} ms`,
    `  one DELETE (floor):            ${f.oneDelete.ms} ms, ${f.oneDelete.rowsPerS} rows/s; the loop held ${f.oneDelete.maxStallMs} ms at once`,
    `  idle, doing nothing:           longest loop stall ${f.idleMaxStallMs} ms (the machine's own noise)`,
    `  a pruning statement's p99 is ${f.statementP99Ratio}× the one DELETE's hold; throughput ${f.throughputRatio}× of it`,
  ].join("\n");
}
