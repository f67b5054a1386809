#!/usr/bin/env node
// Cross-replica bench (DESIGN §9: "Cross-replica query: p50 at most 1 ms above the same query on the
// owning replica"). Two hub replicas over Redis and PostgreSQL (a fresh schema and key prefix, removed
// afterwards), one stub agent (bench/stub-agent.mjs) connected to replica A.
//
// 1. Latency: one caller, sequential, alternating A (the owner: local delivery) and B (cross-replica:
//    B → Redis → A → agent → A → Redis → B), so both see the same machine load. p50/p99 of each and the
//    p50 difference against the 1 ms target.
// 2. Throughput: closed-loop callers (bench/load.mjs), all on A, then split half and half across A and B.
//
//   node bench/cross-replica.bench.mjs        (or: node bench/run.mjs cross-replica)
//   env: BENCH_SAMPLES (latency samples per replica, 2000) · BENCH_SECONDS (measured s per throughput phase, 5)
//        BENCH_WARMUP_SECONDS (1) · BENCH_CONCURRENCY (50) · BENCH_REDIS_URL (redis://127.0.0.1:6379)
//        BENCH_DATABASE_URL (postgres://postgres@127.0.0.1:5432/postgres) · TMPDIR (data dirs and logs)
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import http from "node:http";
import { closeSync, openSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { load, percentile } from "./load.mjs";
import { cpuMsOf, firstJsonLine, ProcessGroup, waitForLogLine } from "./lib/procs.mjs";
import { num } from "./lib/fleet.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const HUB_BIN = join(ROOT, "packages/hub/bin/uplink-hub.js");
const STUB = join(ROOT, "bench/stub-agent.mjs");
const TARGET_P50_DELTA_MS = 1;
const QUERY_BODY = JSON.stringify({ query: "select 1" });
// pg and ioredis are the hub's dependencies: used here only to remove what the bench created.
const hubRequire = createRequire(join(ROOT, "packages/hub/package.json"));

const round = (x, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;

function progress(text) {
  process.stderr.write(`[cross-replica] ${text}\n`);
}

/** The children's environment: ours without any UPLINK_* setting that would change the hubs under test. */
function childEnv() {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("UPLINK_") || k === "WS_MAX_CLIENTS" || k === "NODE_OPTIONS") delete env[k];
  return env;
}

async function startReplica(group, env, tmp, name, cluster) {
  const dataDir = join(tmp, `${name}-data`);
  const logFile = join(tmp, `${name}.log`);
  const fd = openSync(logFile, "w");
  const server = group.spawnNode(
    [HUB_BIN, "serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", dataDir, "--log-level", "info",
      "--redis-url", cluster.redisUrl, "--redis-prefix", cluster.prefix, "--database-url", cluster.databaseUrl, "--database-schema", cluster.schema, "--metrics-port", "0"],
    { env, name: `replica ${name}`, stdout: fd },
  );
  closeSync(fd);
  const line = await waitForLogLine(logFile, server, (v) => v.msg === "hub listening");
  return { name, server, port: line.port, metricsPort: line.metricsPort, hubId: line.hubId, logFile };
}

/** One POST over a keep-alive agent; resolves with status and body. */
function post(agent, port, path, headers) {
  return new Promise((resolvePost) => {
    const req = http.request({ host: "127.0.0.1", port, method: "POST", path, agent, headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(QUERY_BODY), ...headers } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => resolvePost({ status: res.statusCode, body }));
    });
    req.on("error", (err) => resolvePost({ status: 0, body: err.message }));
    req.end(QUERY_BODY);
  });
}

/** Sequential single-caller latency, alternating the two replicas request by request. */
async function alternating(sides, path, headers, samples, warmup) {
  const agents = sides.map(() => new http.Agent({ keepAlive: true, maxSockets: 1 }));
  const lat = sides.map(() => []);
  const errors = sides.map(() => 0);
  let firstError = null;
  try {
    for (let i = 0; i < warmup + samples; i++) {
      // Alternate which goes first too, so neither always runs right after the other.
      const order = i % 2 === 0 ? [0, 1] : [1, 0];
      for (const k of order) {
        const t0 = performance.now();
        const res = await post(agents[k], sides[k].port, path, headers);
        const ms = performance.now() - t0;
        if (res.status !== 200) {
          errors[k]++;
          firstError ??= `${sides[k].name}: HTTP ${res.status} ${res.body.slice(0, 200)}`;
        } else if (i >= warmup) lat[k].push(ms);
      }
    }
  } finally {
    for (const a of agents) a.destroy();
  }
  return sides.map((side, k) => {
    const sorted = Float64Array.from(lat[k]).sort();
    return { via: side.name, count: sorted.length, p50: round(percentile(sorted, 0.5)), p90: round(percentile(sorted, 0.9)), p99: round(percentile(sorted, 0.99)), max: round(sorted[sorted.length - 1] ?? NaN), errors: errors[k], firstError };
  });
}

async function metricsOf(metricsPort) {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const stage = (s) => Number(new RegExp(`^uplink_cluster_commands_total\\{stage="${s}"\\} (\\S+)$`, "m").exec(text)?.[1] ?? 0);
  return Object.fromEntries(["published", "delivered", "returned", "orphaned", "undeliverable"].map((s) => [s, stage(s)]));
}

async function cleanup(cluster) {
  try {
    const { Client } = hubRequire("pg");
    const pg = new Client({ connectionString: cluster.databaseUrl });
    await pg.connect();
    await pg.query(`DROP SCHEMA IF EXISTS ${cluster.schema} CASCADE`);
    await pg.end();
  } catch (err) {
    progress(`could not drop schema ${cluster.schema}: ${err.message}`);
  }
  try {
    const { Redis } = hubRequire("ioredis");
    const redis = new Redis(cluster.redisUrl, { maxRetriesPerRequest: 1 });
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${cluster.prefix}*`, "COUNT", 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== "0");
    await redis.quit();
  } catch (err) {
    progress(`could not delete Redis keys ${cluster.prefix}*: ${err.message}`);
  }
}

/** Runs the bench; resolves with its figures object. */
export async function run() {
  const samples = Math.round(num("BENCH_SAMPLES", 2000));
  const measureMs = num("BENCH_SECONDS", 5) * 1000;
  const warmupMs = num("BENCH_WARMUP_SECONDS", 1) * 1000;
  const concurrency = Math.round(num("BENCH_CONCURRENCY", 50));
  const tag = randomBytes(4).toString("hex");
  const cluster = {
    redisUrl: process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379",
    databaseUrl: process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres",
    schema: `uplink_bench_${tag}`,
    prefix: `uplink-bench-${tag}:`,
  };
  const env = childEnv();
  const group = new ProcessGroup();
  const tmp = group.tempDir("uplink-bench-xr-");
  try {
    const exec = promisify(execFile);
    const token = async (...args) =>
      JSON.parse((await exec(process.execPath, [HUB_BIN, "token", "create", ...args, "--database-url", cluster.databaseUrl, "--database-schema", cluster.schema, "--json"], { env, timeout: 30_000 })).stdout).token;
    const apiToken = await token("--kind", "api", "--scope", "query", "--name", "bench");
    const enrollToken = await token("--kind", "enroll", "--name", "bench-enroll");

    progress("starting replicas A and B");
    const [a, b] = await Promise.all([startReplica(group, env, tmp, "A", cluster), startReplica(group, env, tmp, "B", cluster)]);
    const res = await fetch(`http://127.0.0.1:${a.port}/api/v1/enroll`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: enrollToken, hostname: "bench-stub", labels: { bench: "cross-replica" } }),
    });
    if (res.status !== 201) throw new Error(`enroll answered ${res.status}: ${await res.text()}`);
    const { agentId, agentKey } = await res.json();
    const agent = group.spawnNode([STUB, "--url", `ws://127.0.0.1:${a.port}/v1/agent`, "--key", agentKey], { env, name: "stub agent on A" });
    await firstJsonLine(agent, (v) => v.ready === true);
    const path = `/api/v1/agents/${agentId}/query`;
    const headers = { Authorization: `Bearer ${apiToken}` };
    // B learns the owner from Redis once A has claimed the agent.
    const probe = new http.Agent({ keepAlive: false });
    for (let i = 0; (await post(probe, b.port, path, headers)).status !== 200; i++) {
      if (i > 100) throw new Error("replica B never reached the agent on A");
      await new Promise((r) => setTimeout(r, 50));
    }

    progress(`latency: ${samples} sequential queries per replica, alternating A (owner) and B (cross-replica)`);
    const [owner, cross] = await alternating([a, b], path, headers, samples, Math.min(500, samples));
    const p50DeltaMs = round(cross.p50 - owner.p50);
    const p99DeltaMs = round(cross.p99 - owner.p99);

    const before = await metricsOf(b.metricsPort);
    const cpu0 = { a: cpuMsOf(a.server.pid), b: cpuMsOf(b.server.pid) };
    progress(`throughput: ${concurrency} callers on A only, ${warmupMs / 1000} s warm-up + ${measureMs / 1000} s`);
    const onlyA = await load({ port: a.port, path, body: QUERY_BODY, headers, concurrency, warmupMs, measureMs });
    progress(`throughput: ${concurrency} callers split across A and B`);
    const [splitA, splitB] = await Promise.all([
      load({ port: a.port, path, body: QUERY_BODY, headers, concurrency: Math.ceil(concurrency / 2), warmupMs, measureMs }),
      load({ port: b.port, path, body: QUERY_BODY, headers, concurrency: Math.floor(concurrency / 2), warmupMs, measureMs }),
    ]);
    const cpu1 = { a: cpuMsOf(a.server.pid), b: cpuMsOf(b.server.pid) };
    const after = await metricsOf(b.metricsPort);
    const delivery = Object.fromEntries(Object.keys(after).map((k) => [k, after[k] - before[k]]));
    const pick = (f) => ({ rps: f.rps, p50: f.p50, p99: f.p99, errors: f.errors });

    return {
      latency: { owner, cross, p50DeltaMs, p99DeltaMs },
      throughput: { onlyA: pick(onlyA), splitA: pick(splitA), splitB: pick(splitB), splitTotalRps: splitA.rps + splitB.rps },
      replicaB: { delivery, cpuMsBothPhases: { a: cpu1.a - cpu0.a, b: cpu1.b - cpu0.b } },
      target: { p50DeltaMs: TARGET_P50_DELTA_MS },
      pass: p50DeltaMs <= TARGET_P50_DELTA_MS && owner.errors === 0 && cross.errors === 0,
      config: { samples, concurrency, warmupS: warmupMs / 1000, measureS: measureMs / 1000, cpus: cpus().length, node: process.version },
    };
  } finally {
    await group.stop();
    await cleanup(cluster);
  }
}

/** The readable table of a figures object. */
export function formatTable(f) {
  const pad = (s, n) => String(s).padStart(n);
  const { owner, cross } = f.latency;
  const lat = (name, x) => `${name.padEnd(22)}${pad(x.count, 7)}${pad(x.p50.toFixed(3), 9)}${pad(x.p90.toFixed(3), 9)}${pad(x.p99.toFixed(3), 9)}${pad(x.max.toFixed(2), 9)}`;
  const thr = (name, x) => `${name.padEnd(22)}${pad(x.rps, 9)}${pad(x.p50.toFixed(2), 9)}${pad(x.p99.toFixed(2), 9)}${pad(x.errors, 8)}`;
  const d = f.replicaB.delivery;
  return [
    `cross-replica: 2 replicas over Redis + PostgreSQL, stub agent on A, ${f.config.cpus} CPUs, node ${f.config.node}`,
    `latency, 1 caller, alternating   count   p50 ms   p90 ms   p99 ms   max ms`,
    lat("A (owner, local)", owner),
    lat("B (cross-replica)", cross),
    `p50 B − A ${f.latency.p50DeltaMs.toFixed(3)} ms (target ≤ ${f.target.p50DeltaMs}) · p99 B − A ${f.latency.p99DeltaMs.toFixed(3)} ms → ${f.pass ? "PASS" : "FAIL"}`,
    `throughput, ${f.config.concurrency} callers${"".padEnd(6)}   req/s   p50 ms   p99 ms  errors`,
    thr("all on A", f.throughput.onlyA),
    thr("split: via A", f.throughput.splitA),
    thr("split: via B", f.throughput.splitB),
    `split total ${f.throughput.splitTotalRps} req/s · B's delivery counters: published ${d.published}, returned ${d.returned}, orphaned ${d.orphaned}, undeliverable ${d.undeliverable}`,
  ].join("\n");
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const figures = await run();
  process.stdout.write(`${JSON.stringify(figures)}\n${formatTable(figures)}\n`);
}
