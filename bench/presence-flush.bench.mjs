#!/usr/bin/env node
// Presence flushes on the embedded store at fleet scale (docs/capacity.md, "health samples"): BENCH_AGENTS
// agents (10,000) held by one replica, each flush writing every agent's lastSeenAt and health (statements
// of 5,000 rows, as the presence writer batches them) and so appending one health sample per agent, for
// BENCH_FLUSHES flushes (65: past the 60 samples the agent page's chart shows). Reported: how long each
// flush holds the event loop (p50, p95, max over the last 10, once every agent has its 60 samples), the
// database file once checkpointed, and the health route's read of one agent's newest 60 samples.
//
//   node bench/presence-flush.bench.mjs [hub dist dir]     (default: this checkout's packages/hub/dist)
//   env: BENCH_AGENTS (10000) · BENCH_FLUSHES (65)
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const dist = resolve(process.argv[2] ?? new URL("../packages/hub/dist", import.meta.url).pathname);
const { SqliteStore } = await import(pathToFileURL(join(dist, "store/sqlite-store.js")).href);
const Database = createRequire(join(dist, "../package.json"))("better-sqlite3");
const AGENTS = Number(process.env.BENCH_AGENTS ?? 10_000);
const FLUSHES = Number(process.env.BENCH_FLUSHES ?? 65);
const BATCH = 5_000;
const FLUSH_MS = 60_000;

const dir = mkdtempSync(join(tmpdir(), "uplink-flush-"));
const path = join(dir, "uplink.db");
try {
  const store = new SqliteStore(path);
  // Ids as enrollment makes them: random, so incompressible and spread over the index.
  const ids = Array.from({ length: AGENTS }, () => `agt_${crypto.randomUUID().replaceAll("-", "").slice(0, 26)}`);
  for (const [i, id] of ids.entries()) await store.createAgent({ id, secretHash: "ab".repeat(32), hostname: `host-${String(i).padStart(5, "0")}`, labels: { env: "prod" }, enrolledAt: 1 });
  for (const id of ids) await store.updateAgent(id, { status: "online", replicaId: "hub_bench", connectedAt: 1, lastSeenAt: 1 });
  const times = [];
  const t0 = Date.now();
  for (let f = 1; f <= FLUSHES; f++) {
    const at = t0 + f * FLUSH_MS;
    const rows = ids.map((id, i) => ({
      id,
      lastSeenAt: at,
      lastHealth: { status: "ok", agentVersion: "1.0.0", uptimeS: f * 60, load1: ((i + f) % 400) / 100, memFreeBytes: 1_000_000_000 + i * 1000 + f, memTotalBytes: 8_000_000_000, inflight: f % 3, collectors: ["host"] },
    }));
    const start = performance.now();
    for (let i = 0; i < rows.length; i += BATCH) await store.recordPresence("hub_bench", rows.slice(i, i + BATCH));
    times.push(performance.now() - start);
  }
  const reads = [];
  for (const id of ids.slice(0, 200)) {
    const start = performance.now();
    if (typeof store.listHealthSamples === "function") await store.listHealthSamples(id, 60);
    else await store.findAgent(id);
    reads.push(performance.now() - start);
  }
  await store.close();
  const db = new Database(path);
  db.pragma("wal_checkpoint(TRUNCATE)");
  db.close();
  const last = times.slice(-10).sort((a, b) => a - b);
  const pct = (v, p) => v[Math.min(v.length - 1, Math.floor(p * v.length))];
  reads.sort((a, b) => a - b);
  const round = (v) => Math.round(v * 10) / 10;
  console.log(JSON.stringify({
    dist,
    agents: AGENTS,
    flushes: FLUSHES,
    flushMs: { first: round(times[0]), p50: round(pct(last, 0.5)), p95: round(pct(last, 0.95)), max: round(last.at(-1)) },
    fileMB: round(statSync(path).size / 1e6),
    healthReadMs: { p50: round(pct(reads, 0.5)), p95: round(pct(reads, 0.95)) },
    loadavg: loadavg().map(round),
  }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
