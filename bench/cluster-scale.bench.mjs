#!/usr/bin/env node
// Cluster scale bench (docs/capacity.md): what a fleet costs a cluster per agent, measured on real
// PostgreSQL and Redis, next to the capacity model's prediction. BENCH_REPLICAS replicas over a database
// and a Redis of the bench's own (so nothing else on the machine is counted), BENCH_AGENTS lightweight
// agents (bench/lib/swarm.mjs, spread over the replicas, several processes and 127.0.0.x source
// addresses, `ulimit -n` raised in each child) plus one stub agent for a live query.
//
// Measured, each over BENCH_WINDOW_S in the same run: first with no fleet (the floor), then with the fleet
// connected and idle (every agent polled, nothing else asked):
//   - PostgreSQL commits/s and rows updated/s (`pg_stat_database` of the bench's database: xact_commit,
//     tup_updated), Redis commands/s (`INFO stats` total_commands_processed, the bench's own INFO calls
//     taken off), replicas' RSS and CPU: above the floor, per 1,000 agents, beside the model
//   - a live query (one caller, sequential, through the last replica to the stub agent on the first):
//     p50/p99 with no fleet, with the idle fleet, and during a fan-out to every agent (`targets.all`);
//     the fan-out's commits, Redis commands and CPU per target
// Figures only; ratios are against the floor of the same run. Each headline figure is printed beside its
// target (issue 18) and the model's prediction.
//
//   node bench/cluster-scale.bench.mjs          (or: node bench/run.mjs cluster-scale)
//   BENCH_MODE=check: 1 replica, 400 agents, health every 2 s (issue 18's check), no fan-out
//   env: BENCH_AGENTS (scale: 15000) · BENCH_REPLICAS (3) · BENCH_SWARMS (per replica, 2) · BENCH_WINDOW_S (60)
//        BENCH_FANOUT (scale: 1; 0 measures the idle fleet only)
//        BENCH_HEALTH_INTERVAL_S (15) · BENCH_PRESENCE_FLUSH_S (15; the hub's default is 60)
//        BENCH_DATABASE_URL (postgres://postgres@127.0.0.1:5432/postgres: the server; a database is made)
//        BENCH_REDIS_URL (default: a private redis-server on a free port; without one, 127.0.0.1:6379)
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { percentile } from "./load.mjs";
import { client, enrollAgents, HUB_BIN, childEnv, metric, rssKiB, startHub, startStubAgent, startSwarms, until, num } from "./lib/fleet.mjs";
import { cpuMsOf, ProcessGroup } from "./lib/procs.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const hubRequire = createRequire(join(ROOT, "packages/hub/package.json"));
const exec = promisify(execFile);
const round = (x, digits = 2) => (x === null || !Number.isFinite(x) ? null : Math.round(x * 10 ** digits) / 10 ** digits);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const progress = (text) => process.stderr.write(`[cluster-scale] ${text}\n`);

/**
 * The capacity model of docs/capacity.md: what `agents` idle agents add to a cluster of `replicas`, per
 * second, above its floor (the same cluster holding only the stub agent, on the first replica). Its
 * constants are measured on this machine (docs/capacity.md says by which run).
 */
export const MODEL = {
  /** Agents per presence statement (packages/hub/src/agents/presence-writer.ts). */
  presenceBatchRows: 5000,
  /**
   * Revocation reads per replica per second: one read of the revocations since its cursor every 2 s
   * whatever it holds (packages/hub/src/cluster/agent-ownership.ts), so they are in the floor; an agent is
   * looked up once after it connects (1,000 a read), outside the idle window.
   */
  revocationReadsPerReplicaS: 1 / 2,
  /** Redis commands per idle agent per second: none (ownership written on connect and disconnect, liveness by the replica's heartbeat). */
  redisPerAgentS: 0,
  /** Replica memory per connected agent, KiB. */
  kibPerAgent: 27,
  /**
   * Replica CPU per health poll, µs (the fit of the 400-agent check and a 9,000-agent run), and per held
   * agent per second besides its polls (timers, pings): 1 µs, the residual of the 15,000- and 30,000-agent
   * runs once the per-agent ownership refresh was gone (the earlier 6.5 µs carried it).
   */
  cpuUsPerPoll: 192,
  cpuUsPerAgentS: 1,
};

/** Issue 18's targets: the check's totals (1 replica, 400 agents, health every 2 s) and an idle agent's hourly cost at the defaults. */
export const TARGETS = {
  check: { pgCommitsS: 10, redisCommandsS: 5 },
  /** At the default presence flush (60 s); the Redis one at any setting. */
  perAgentHour: { pgRowWrites: 60, redisCommands: 2 },
  defaultPresenceFlushS: 60,
};

export function predict({ agents, replicas, healthIntervalS, presenceFlushS }) {
  const held = Array.from({ length: replicas }, (_, i) => Math.ceil(agents / replicas) + (i === 0 ? 1 : 0));
  // The floor already flushes the stub agent's row (one statement a flush on the first replica).
  const statements = held.reduce((sum, h) => sum + Math.ceil(h / MODEL.presenceBatchRows), 0) - 1;
  return {
    pgCommitsS: statements / presenceFlushS,
    pgRowsS: agents / presenceFlushS,
    redisCommandsS: agents * MODEL.redisPerAgentS,
    rssMiB: (agents * MODEL.kibPerAgent) / 1024,
    cpuPercent: (agents * (MODEL.cpuUsPerPoll / healthIntervalS + MODEL.cpuUsPerAgentS)) / 1e4,
  };
}

/** The headline figures, each with its target (null: none at these settings) and the model's prediction. */
function headline({ check, agents, presenceFlushS, fleet, predicted, perAgentHour, model }) {
  const atDefaults = presenceFlushS === TARGETS.defaultPresenceFlushS;
  return [
    { figure: "PostgreSQL commits/s, idle fleet (total)", measured: fleet.pgCommitsS, target: check ? TARGETS.check.pgCommitsS : null, model: predicted.pgCommitsS },
    { figure: "Redis commands/s, idle fleet (total)", measured: fleet.redisCommandsS, target: check ? TARGETS.check.redisCommandsS : null, model: predicted.redisCommandsS },
    { figure: "row writes per idle agent per hour", measured: perAgentHour.pgRowWrites, target: atDefaults ? TARGETS.perAgentHour.pgRowWrites : null, model: round((model.pgRowsS / agents) * 3600, 2) },
    { figure: "commits per idle agent per hour", measured: perAgentHour.pgCommits, target: null, model: round((model.pgCommitsS / agents) * 3600, 3) },
    { figure: "Redis commands per idle agent per hour", measured: perAgentHour.redisCommands, target: TARGETS.perAgentHour.redisCommands, model: round((model.redisCommandsS / agents) * 3600, 2) },
  ].map((h) => ({ ...h, met: h.target === null ? null : h.measured <= h.target }));
}

/** A free TCP port on loopback. */
function freePort() {
  return new Promise((resolvePort, reject) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolvePort(port));
    });
    s.on("error", reject);
  });
}

/** Redis of the bench's own (a private redis-server), or the one BENCH_REDIS_URL names (or 127.0.0.1:6379 without redis-server). */
async function startRedis(group) {
  if (process.env.BENCH_REDIS_URL) return { url: process.env.BENCH_REDIS_URL, private: false };
  const installed = await exec("redis-server", ["--version"]).then(() => true, () => false);
  if (!installed) {
    progress("no redis-server to start: using redis://127.0.0.1:6379, whose other clients are counted too");
    return { url: "redis://127.0.0.1:6379", private: false };
  }
  const port = await freePort();
  const child = group.adopt(spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: ["ignore", "pipe", "pipe"] }), "redis-server");
  const { Redis } = hubRequire("ioredis");
  const url = `redis://127.0.0.1:${port}`;
  await until("the private redis-server", async () => {
    const r = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null, lazyConnect: true });
    r.on("error", () => {});
    try {
      await r.connect();
      return (await r.ping()) === "PONG";
    } catch {
      return false;
    } finally {
      r.disconnect();
    }
  }, { timeoutMs: 10_000, everyMs: 100 });
  return { url, private: true, child };
}

/**
 * Counters of the bench's database (read from a connection to another one, so the reading is not
 * counted), its tables' written rows (`o.tables`, a connection inside it: one read transaction a reading,
 * taken off), Redis, and the replicas' failed health polls.
 */
async function counters(o) {
  const { rows } = await o.admin.query("SELECT xact_commit::bigint AS commits, tup_updated::bigint AS updated FROM pg_stat_database WHERE datname = $1", [o.database]);
  const tables = (await o.tables.query("SELECT relname, (n_tup_ins + n_tup_upd + n_tup_del)::bigint AS n FROM pg_stat_user_tables")).rows;
  const info = await o.redis.info("stats");
  const failures = (await Promise.all(o.replicas.map((r) => metric(r.metricsPort, "uplink_health_poll_failures_total")))).reduce((a, b) => a + b, 0);
  return {
    at: performance.now(),
    commits: Number(rows[0].commits),
    updated: Number(rows[0].updated),
    tables: Object.fromEntries(tables.map((t) => [t.relname, Number(t.n)])),
    redis: Number(/total_commands_processed:(\d+)/.exec(info)[1]),
    failures,
  };
}

/** Rates between two counter readings; the bench's own reads (a transaction, an INFO) are not counted. */
function rates(a, b) {
  const s = (b.at - a.at) / 1000;
  const rowsWritten = Object.fromEntries(Object.keys(b.tables).map((t) => [t, round((b.tables[t] - (a.tables[t] ?? 0)) / s)]).filter(([, v]) => v > 0));
  return { seconds: round(s, 1), pgCommitsS: round((b.commits - a.commits - 1) / s), pgRowsS: round((b.updated - a.updated) / s), redisCommandsS: round((b.redis - a.redis - 1) / s), rowsWrittenS: rowsWritten, healthPollFailures: b.failures - a.failures };
}

/**
 * How late `pg_stat_database` may be: a backend reports its counters at most once a second while busy,
 * and an idle one 10 s after its last transaction. A window starts this long after the previous phase.
 */
const PG_STATS_LAG_MS = 11_000;

/** Replicas' RSS (MiB, summed) and CPU (% of a core, summed) over a window. */
async function measureWindow(o, seconds) {
  // Both readings are taken in the same steady state, so the lag of the counters is the same at both ends.
  await sleep(PG_STATS_LAG_MS);
  const c0 = await counters(o);
  const cpu0 = o.replicas.map((r) => cpuMsOf(r.child.pid));
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const cpu1 = o.replicas.map((r) => cpuMsOf(r.child.pid));
  const ms = performance.now() - t0;
  const c1 = await counters(o);
  const rss = o.replicas.map((r) => rssKiB(r.child.pid) / 1024);
  const cpuPercent = cpu1.reduce((sum, c, i) => sum + (c - cpu0[i]), 0) / ms * 100;
  return { ...rates(c0, c1), rssMiB: round(rss.reduce((a, b) => a + b, 0), 1), cpuPercent: round(cpuPercent, 1) };
}

/** A live query's latencies: one caller, sequential, until `stop()` says so (or `count` samples). */
async function liveQuery(api, path, { count = Infinity, stop = () => false } = {}) {
  const lat = [];
  let errors = 0;
  while (lat.length + errors < count && !stop()) {
    const t0 = performance.now();
    const res = await api.call("POST", path, { query: "select 1" });
    if (res.status === 200) lat.push(performance.now() - t0);
    else errors++;
  }
  const sorted = Float64Array.from(lat).sort();
  return { count: sorted.length, errors, p50: round(percentile(sorted, 0.5), 2), p99: round(percentile(sorted, 0.99), 2) };
}

/** Runs the bench; resolves with its figures. */
export async function run() {
  const check = process.env.BENCH_MODE === "check";
  const agents = Math.round(num("BENCH_AGENTS", check ? 400 : 15_000));
  const replicaCount = Math.round(num("BENCH_REPLICAS", check ? 1 : 3));
  const swarmsPerReplica = Math.round(num("BENCH_SWARMS", 2));
  const windowS = num("BENCH_WINDOW_S", 60);
  const healthIntervalS = num("BENCH_HEALTH_INTERVAL_S", check ? 2 : 15);
  const presenceFlushS = num("BENCH_PRESENCE_FLUSH_S", check ? 60 : 15);
  const serverUrl = process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
  const tag = randomBytes(4).toString("hex");
  const database = `uplink_bench_${tag}`;
  const databaseUrl = Object.assign(new URL(serverUrl), { pathname: `/${database}` }).href;
  const group = new ProcessGroup();
  const tmp = group.tempDir("uplink-bench-cs-");
  const { Client } = hubRequire("pg");
  const { Redis } = hubRequire("ioredis");
  const admin = new Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  let redis;
  let tables;
  const env = childEnv();
  try {
    const redisServer = await startRedis(group);
    redis = new Redis(redisServer.url, { maxRetriesPerRequest: 1 });
    const prefix = `uplink-bench-${tag}:`;
    const clusterArgs = ["--redis-url", redisServer.url, "--redis-prefix", prefix, "--database-url", databaseUrl, "--health-interval", `${healthIntervalS}s`];
    // The presence flag exists from the commit that made presence batched on; an older hub runs without it.
    const { stdout: help } = await exec(process.execPath, [HUB_BIN, "serve", "--help"], { env });
    const flushArgs = help.includes("--presence-flush") ? ["--presence-flush", `${presenceFlushS}s`] : [];
    const token = async (...args) => JSON.parse((await exec(process.execPath, [HUB_BIN, "token", "create", ...args, "--database-url", databaseUrl, "--json"], { env, timeout: 30_000 })).stdout).token;
    const adminToken = await token("--kind", "api", "--scope", "admin", "--name", "bench");
    const enrollToken = await token("--kind", "enroll", "--name", "bench-fleet");

    progress(`starting ${replicaCount} replica(s), health every ${healthIntervalS} s${flushArgs.length ? `, presence flush ${presenceFlushS} s` : " (hub without --presence-flush: every poll written)"}`);
    const replicas = [];
    for (let i = 0; i < replicaCount; i++) replicas.push(await startHub(group, tmp, { extra: [...clusterArgs, ...flushArgs], logName: `replica-${i}.log`, name: `replica ${i}` }));
    const first = replicas[0];
    const last = replicas[replicas.length - 1];
    const [stubKey] = await enrollAgents(first.port, enrollToken, 1);
    await startStubAgent(group, first.port, stubKey);
    const api = client(last.port, adminToken);
    const queryPath = `/api/v1/agents/${stubKey.split(".")[0]}/query`;
    await until("the stub agent reachable from the last replica", async () => (await api.call("POST", queryPath, { query: "select 1" })).status === 200, { timeoutMs: 30_000 });
    tables = new Client({ connectionString: databaseUrl });
    await tables.connect();
    // The new database's catalogs and tables, written by the migrations, would otherwise be vacuumed and
    // analysed by autovacuum during the floor's window (tens of transactions, counted as the floor's).
    await tables.query("VACUUM ANALYZE");
    const o = { admin, tables, redis, database, replicas };

    progress(`floor: ${windowS} s with no fleet`);
    const floor = await measureWindow(o, windowS);
    // What one query costs: the floor's own rate over the same time taken off.
    await sleep(PG_STATS_LAG_MS);
    const q0 = await counters(o);
    const qcpu0 = replicas.map((r) => cpuMsOf(r.child.pid));
    const idleQuery = await liveQuery(api, queryPath, { count: 1000 });
    const qcpuMs = replicas.reduce((sum, r, i) => sum + (cpuMsOf(r.child.pid) - qcpu0[i]), 0);
    const qms = performance.now() - q0.at;
    await sleep(PG_STATS_LAG_MS);
    const q1 = await counters(o);
    const qs = (q1.at - q0.at) / 1000;
    const perQuery = {
      pgCommits: round((q1.commits - q0.commits - floor.pgCommitsS * qs) / idleQuery.count, 3),
      redisCommands: round((q1.redis - q0.redis - floor.redisCommandsS * qs) / idleQuery.count, 3),
      cpuUs: round(((qcpuMs - (floor.cpuPercent / 100) * qms) * 1000) / idleQuery.count, 1),
    };

    progress(`enrolling ${agents} agents`);
    const t0 = Date.now();
    const keys = await enrollAgents(first.port, enrollToken, agents, { progress, concurrency: 16 });
    const enrollS = (Date.now() - t0) / 1000;
    progress(`connecting them to ${replicaCount} replica(s), ${swarmsPerReplica} processes each`);
    const t1 = Date.now();
    const swarms = [];
    const per = Math.ceil(agents / replicaCount);
    replicas.forEach((r, i) => {
      const dir = group.tempDir(`uplink-bench-cs-r${i}-`);
      swarms.push(...startSwarms(group, dir, { url: `ws://127.0.0.1:${r.port}/v1/agent`, keys: keys.slice(i * per, (i + 1) * per), processes: swarmsPerReplica, addresses: 8, rampConcurrency: 100 }));
    });
    const connectedNow = async () => (await Promise.all(replicas.map((r) => metric(r.metricsPort, "uplink_agents_connected")))).reduce((a, b) => a + b, 0);
    await until(`${agents} agents connected`, async () => (await connectedNow()) >= agents + 1, { timeoutMs: 600_000, everyMs: 1000 });
    const connectS = (Date.now() - t1) / 1000;
    progress(`connected in ${connectS.toFixed(1)} s; one health interval so every agent is polled, then ${windowS} s idle`);
    await sleep(healthIntervalS * 1000 + 2000);
    const fleet = await measureWindow(o, windowS);
    const fleetQuery = await liveQuery(api, queryPath, { count: 1000 });
    // Said before the fan-out, so a run that fails there still leaves its idle figures.
    progress(`idle fleet: ${JSON.stringify(fleet)} (floor ${JSON.stringify(floor)})`);

    let fanout = null;
    if (!check && process.env.BENCH_FANOUT !== "0") {
      progress(`fan-out to every agent, the live query running meanwhile`);
      await sleep(PG_STATS_LAG_MS);
      const c0 = await counters(o);
      const cpu0 = replicas.map((r) => cpuMsOf(r.child.pid));
      let done = false;
      const during = liveQuery(api, queryPath, { stop: () => done });
      const started = await api.call("POST", "/api/v1/queries", { query: "select 1", targets: { all: true }, timeoutMs: 60_000 });
      if (started.status !== 202) throw new Error(`fan-out answered ${started.status}: ${JSON.stringify(started.body)}`);
      const f0 = performance.now();
      const view = await until("the fan-out finished", async () => {
        const v = await api.call("GET", `/api/v1/queries/${started.body.id}`);
        return v.status === 200 && v.body.counts.pending === 0 ? v.body : false;
      }, { timeoutMs: 120_000, everyMs: 200 });
      const fanoutMs = performance.now() - f0;
      done = true;
      const query = await during;
      const cpuMs = replicas.reduce((sum, r, i) => sum + (cpuMsOf(r.child.pid) - cpu0[i]), 0);
      await sleep(PG_STATS_LAG_MS);
      const c1 = await counters(o);
      const targets = started.body.targetCount;
      // The fleet's own idle cost over the same time is taken off, leaving the fan-out's.
      const s = (c1.at - c0.at) / 1000;
      fanout = {
        targets,
        ms: Math.round(fanoutMs),
        ok: view.counts.ok,
        query,
        perTarget: {
          pgCommits: round((c1.commits - c0.commits - fleet.pgCommitsS * s) / targets, 3),
          pgRows: round((c1.updated - c0.updated - fleet.pgRowsS * s) / targets, 3),
          redisCommands: round((c1.redis - c0.redis - fleet.redisCommandsS * s) / targets, 3),
          cpuUs: round(((cpuMs - (fleet.cpuPercent / 100) * fanoutMs) * 1000) / targets, 1),
        },
      };
    }
    api.close();

    const k = agents / 1000;
    const keysOf = ["pgCommitsS", "pgRowsS", "redisCommandsS", "rssMiB", "cpuPercent"];
    const model = predict({ agents, replicas: replicaCount, healthIntervalS, presenceFlushS });
    const measuredK = Object.fromEntries(keysOf.map((key) => [key, round((fleet[key] - floor[key]) / k, 3)]));
    const modelK = Object.fromEntries(keysOf.map((key) => [key, round(model[key] / k, 3)]));
    // The whole cluster with its fleet: the floor measured in this run plus what the model adds per agent.
    const predicted = Object.fromEntries(keysOf.map((key) => [key, round(floor[key] + model[key], 2)]));
    const ratio = Object.fromEntries(keysOf.map((key) => [key, round(fleet[key] / predicted[key], 2)]));
    const perAgentHour = {
      pgRowWrites: round(((fleet.pgRowsS - floor.pgRowsS) / agents) * 3600, 2),
      pgCommits: round(((fleet.pgCommitsS - floor.pgCommitsS) / agents) * 3600, 3),
      redisCommands: round(((fleet.redisCommandsS - floor.redisCommandsS) / agents) * 3600, 2),
    };
    const totals = swarms.reduce((t, s) => ({ connected: t.connected + (s.report?.connected ?? 0), attempts: t.attempts + (s.report?.attempts ?? 0) }), { connected: 0, attempts: 0 });
    return {
      mode: check ? "check" : "scale",
      agents,
      replicas: replicaCount,
      swarmProcesses: swarms.length,
      healthIntervalS,
      presenceFlushS: flushArgs.length ? presenceFlushS : null,
      windowS,
      enrollS: round(enrollS, 1),
      connectS: round(connectS, 1),
      floor,
      fleet,
      perThousandAgents: { measured: measuredK, model: modelK },
      predicted,
      measuredOverPredicted: ratio,
      perAgentHour,
      targets: headline({ check, agents, presenceFlushS, fleet, predicted, perAgentHour, model }),
      liveQuery: { idle: idleQuery, fleet: fleetQuery, fanout: fanout?.query ?? null, p99FleetOverIdle: round(fleetQuery.p99 / idleQuery.p99), p99FanoutOverIdle: fanout ? round(fanout.query.p99 / idleQuery.p99) : null },
      perQuery,
      fanout,
      swarm: totals,
      redis: redisServer.private ? "private redis-server" : `shared (${redisServer.url}): other clients are counted too`,
      machine: { cpus: cpus().length, node: process.version },
    };
  } finally {
    redis?.disconnect();
    await tables?.end();
    await group.stop();
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch((err) => progress(`could not drop ${database}: ${err.message}`));
    await admin.end();
  }
}

/** The readable table of a figures object. */
export function formatTable(f) {
  const row = (name, w) => `${name.padEnd(22)}${String(w.pgCommitsS).padStart(10)}${String(w.pgRowsS).padStart(10)}${String(w.redisCommandsS).padStart(10)}${String(w.rssMiB).padStart(10)}${String(w.cpuPercent).padStart(8)}`;
  const m = f.perThousandAgents;
  const lines = [
    `cluster-scale (${f.mode}): ${f.agents} agents on ${f.replicas} replica(s) in ${f.swarmProcesses} processes, health ${f.healthIntervalS} s, presence flush ${f.presenceFlushS ?? "none (every poll)"} s, ${f.machine.cpus} CPUs, node ${f.machine.node}`,
    `enrolled in ${f.enrollS} s, connected in ${f.connectS} s; windows of ${f.windowS} s; Redis: ${f.redis}`,
    `${"".padEnd(22)}${"pg com/s".padStart(10)}${"pg rows/s".padStart(10)}${"redis/s".padStart(10)}${"RSS MiB".padStart(10)}${"CPU %".padStart(8)}`,
    row("floor (no fleet)", f.floor),
    row("idle fleet", f.fleet),
    row("predicted: floor+model", f.predicted),
    row("measured / predicted", f.measuredOverPredicted),
    row("per 1,000 agents", m.measured),
    row("  model", m.model),
    `per agent per hour: ${f.perAgentHour.pgRowWrites} row writes, ${f.perAgentHour.pgCommits} commits, ${f.perAgentHour.redisCommands} Redis commands`,
    `${"figure".padEnd(42)}${"measured".padStart(10)}${"target".padStart(10)}${"model".padStart(10)}`,
    ...f.targets.map((h) => `${h.figure.padEnd(42)}${String(h.measured).padStart(10)}${(h.target === null ? "-" : `≤ ${h.target}`).padStart(10)}${String(h.model).padStart(10)}${h.met === null ? "" : h.met ? "  met" : "  NOT met"}`),
    `live query p50/p99 ms: idle ${f.liveQuery.idle.p50}/${f.liveQuery.idle.p99} · fleet ${f.liveQuery.fleet.p50}/${f.liveQuery.fleet.p99} (p99 ×${f.liveQuery.p99FleetOverIdle})` +
      (f.fanout ? ` · during fan-out ${f.fanout.query.p50}/${f.fanout.query.p99} (p99 ×${f.liveQuery.p99FanoutOverIdle}, ${f.fanout.query.count} samples)` : ""),
  ];
  lines.push(`one query (through the last replica to the stub on the first): ${f.perQuery.pgCommits} commits, ${f.perQuery.redisCommands} Redis commands, ${f.perQuery.cpuUs} µs CPU (all replicas)`);
  lines.push(`rows written/s by table: floor ${JSON.stringify(f.floor.rowsWrittenS)} · fleet ${JSON.stringify(f.fleet.rowsWrittenS)}; failed health polls in the fleet window: ${f.fleet.healthPollFailures}`);
  if (f.fanout) {
    const t = f.fanout.perTarget;
    lines.push(`fan-out: ${f.fanout.targets} targets in ${f.fanout.ms} ms (${f.fanout.ok} ok); per target ${t.pgCommits} commits, ${t.pgRows} rows updated, ${t.redisCommands} Redis commands, ${t.cpuUs} µs CPU`);
  }
  return lines.join("\n");
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const figures = await run();
  process.stdout.write(`${JSON.stringify(figures)}\n${formatTable(figures)}\n`);
}
