#!/usr/bin/env node
// Schedules bench (issue 14): one hub holding BENCH_AGENTS lightweight agents (default 10,000;
// bench/lib/swarm.mjs children answering every query at once) running BENCH_SCHEDULES scheduled queries
// (default 20, half snapshot, half differential) at BENCH_INTERVAL_S (default 60 s) on every agent.
//
// Measured over one whole interval of ticks (every (schedule, agent) runs once in it), on this machine:
//   - the hub's CPU while idle (the fleet connected, no schedule) and while the schedules tick: % of a core
//     and µs per run (the ticking CPU less the fleet's own, measured without live queries, and less the
//     live queries' own, per live query as measured idle: the live queries answered while ticking are
//     fewer, so subtracting the idle window's whole CPU would understate a run's cost);
//   - how late the runs are: the hub's uplink_schedule_lag_seconds, sampled every second while ticking;
//   - the store's growth: bytes of the SQLite files (database + WAL) and runs stored, per hour;
//   - a live query's latency (POST /api/v1/agents/:id/query to a stub agent, one caller at a time) on the
//     idle hub and during the ticks: p50/p99 and the ratio of the p99s.
//   - SIGTERM to the hub alone while its schedules run: its exit code and how long it took (the hub's own
//     deadline is 5 s, past which it exits 1).
//   - the floor, measured first with the same fleet: the bare floor server (bench/floor-server.mjs: node:http
//     + ws + a Map of waiters) sending the same rate of query commands to the fleet with none of a run's work
//     (no claim, no store, no diff, no event), and the same live query's p50/p99 on it idle and while it
//     sends: what the scheduled traffic alone adds to a live query on this machine.
// Target: a live query's p99 during ticks ≤ 1.25 × its idle p99. Figures are printed, not asserted.
//
//   node bench/schedules.bench.mjs        (or: node bench/run.mjs schedules)
//   env: BENCH_AGENTS (10000) · BENCH_SCHEDULES (20) · BENCH_INTERVAL_S (60) · BENCH_SWARMS (8)
//   · BENCH_CPU_PROF (a directory: the hub runs with --cpu-prof there; read it with bench/cpuprofile-top.mjs)
//   · BENCH_SHUTDOWN_LOG (1: print the hub's log lines from its shutdown, with their times)
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { load } from "./load.mjs";
import { cpuMsOf, firstJsonLine, ProcessGroup } from "./lib/procs.mjs";
import { client, cpuProfileArgs, enrollAgents, fleetSize, metric, spawnWithFds, startHub, startStubAgent, startSwarms, swarmTotals, tokenOnDisk, until, num } from "./lib/fleet.mjs";

const TARGETS = { p99Ratio: 1.25 };

const progress = (text) => process.stderr.write(`[schedules] ${text}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const round = (n, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

// better-sqlite3 is the hub package's dependency, not the workspace root's.
const Database = createRequire(new URL("../packages/hub/package.json", import.meta.url))("better-sqlite3");

/**
 * Bytes the embedded store's data takes (its pages in use, as a reader sees the last commit): the WAL's
 * own size says how much was written since its last reset, not how much is kept.
 */
function storeBytes(dir) {
  const db = new Database(join(dir, "uplink.db"), { readonly: true, fileMustExist: true });
  try {
    const pages = db.pragma("page_count", { simple: true }) - db.pragma("freelist_count", { simple: true });
    return pages * db.pragma("page_size", { simple: true });
  } finally {
    db.close();
  }
}

/** A live query's latency, one caller at a time, for `measureMs`. */
async function liveQuery(port, path, headers, measureMs) {
  const r = await load({ port, path, body: JSON.stringify({ query: "select 1" }), headers, concurrency: 1, warmupMs: 1000, measureMs });
  return { rps: r.rps, p50: r.p50, p99: r.p99, max: r.max, count: r.count, errors: r.errors };
}

/** CPU (ms) the hub used over `ms`, with the window's real length. */
async function cpuOver(pid, ms) {
  const cpu0 = cpuMsOf(pid);
  const t0 = Date.now();
  await sleep(ms);
  return { cpuMs: cpuMsOf(pid) - cpu0, windowMs: Date.now() - t0 };
}

const FLOOR = fileURLToPath(new URL("./floor-server.mjs", import.meta.url));
const STUB = fileURLToPath(new URL("./stub-agent.mjs", import.meta.url));

/**
 * The floor: the bare floor server holding the same fleet (the swarms connect with the same keys; it takes
 * any), a live query's latency on it idle and while it sends the schedules' rate of commands. Its fleet
 * and stub agent are stopped before it resolves.
 */
async function floorRun(group, dir, keys, { rate, measureMs, processes }) {
  const server = spawnWithFds(group, [FLOOR, "--port", "0", "--host", "127.0.0.1"], { name: "floor server" });
  const { port } = await firstJsonLine(server, (v) => typeof v.port === "number");
  const stub = group.spawnNode([STUB, "--url", `ws://127.0.0.1:${port}/v1/agent`], { name: "floor stub agent" });
  await firstJsonLine(stub, (v) => v.ready === true);
  const swarms = startSwarms(group, dir, { url: `ws://127.0.0.1:${port}/v1/agent`, keys, processes, rampConcurrency: 100 });
  try {
    await until(`${keys.length} agents connected to the floor`, async () => swarmTotals(swarms).connected >= keys.length, { timeoutMs: 600_000, everyMs: 1000 });
    await sleep(3000);
    const path = "/api/v1/agents/floor-agent/query";
    const idle = await liveQuery(port, path, {}, measureMs);
    const res = await fetch(`http://127.0.0.1:${port}/floor/fleet`, { method: "POST", body: JSON.stringify({ rate }) });
    if (res.status !== 200) throw new Error(`floor fleet: HTTP ${res.status}`);
    await sleep(2000);
    const ticking = await liveQuery(port, path, {}, measureMs);
    const answered = swarmTotals(swarms).answered;
    return { idle, ticking, commandsPerSecond: rate, answered, p99Ratio: round(ticking.p99 / idle.p99, 3), addedP99Ms: round(ticking.p99 - idle.p99, 2) };
  } finally {
    for (const s of swarms) s.send({ cmd: "stop" });
    await Promise.all([...swarms.map((s) => new Promise((r) => (s.child.exitCode !== null ? r() : s.child.once("exit", r)))), new Promise((r) => (stub.exitCode !== null ? r() : (stub.once("exit", r), stub.kill("SIGTERM"))))]);
    server.kill("SIGTERM");
  }
}

/** Runs the bench; resolves with its figures. */
export async function run() {
  const wanted = Math.round(num("BENCH_AGENTS", 10_000));
  const schedules = Math.round(num("BENCH_SCHEDULES", 20));
  const intervalS = num("BENCH_INTERVAL_S", 60);
  const processes = Math.round(num("BENCH_SWARMS", 8));
  const group = new ProcessGroup();
  const tmp = group.tempDir("uplink-bench-schedules-");
  try {
    const { agents } = await fleetSize(wanted, progress);
    const adminToken = await tokenOnDisk(tmp, "--kind", "api", "--scope", "admin", "--name", "bench");
    const enrollToken = await tokenOnDisk(tmp, "--kind", "enroll", "--name", "bench-fleet");
    // Health polls rare, so that the schedules' work is what the figures show.
    const hub = await startHub(group, tmp, { extra: ["--health-interval", "5m"], nodeArgs: cpuProfileArgs() });
    const [stubKey] = await enrollAgents(hub.port, enrollToken, 1);
    await startStubAgent(group, hub.port, stubKey);
    const path = `/api/v1/agents/${stubKey.split(".")[0]}/query`;
    const headers = { Authorization: `Bearer ${adminToken}` };

    progress(`enrolling ${agents} agents`);
    const keys = await enrollAgents(hub.port, enrollToken, agents, { progress });
    const floorMs = Math.min(30_000, intervalS * 1000);
    progress(`floor: the same fleet on the bare floor server, a live query idle then while it sends ${Math.round((agents * schedules) / intervalS)} commands/s, ${floorMs / 1000} s each`);
    const floor = await floorRun(group, tmp, keys, { rate: (agents * schedules) / intervalS, measureMs: floorMs, processes });
    progress(`connecting ${agents} agents to the hub`);
    startSwarms(group, tmp, { url: `ws://127.0.0.1:${hub.port}/v1/agent`, keys, processes, rampConcurrency: 100 });
    await until(`${agents} agents connected`, async () => (await metric(hub.metricsPort, "uplink_agents_connected")) >= agents + 1, { timeoutMs: 600_000, everyMs: 1000 });
    await sleep(3000);

    const measureMs = intervalS * 1000;
    const fleetMs = Math.min(10_000, measureMs);
    progress(`idle: hub CPU with the fleet alone over ${fleetMs / 1000} s, then with a live query's latency over ${intervalS} s`);
    const fleetCpu = await cpuOver(hub.child.pid, fleetMs);
    const [idleCpu, idleQuery] = await Promise.all([cpuOver(hub.child.pid, measureMs), liveQuery(hub.port, path, headers, measureMs - 1000)]);

    progress(`creating ${schedules} schedules at ${intervalS} s on every agent`);
    // A client of its own: a keep-alive socket left idle through the measurements may be closed under it.
    const api = client(hub.port, adminToken);
    for (let i = 0; i < schedules; i++) {
      const res = await api.call("POST", "/api/v1/schedules", { name: `bench-${i}`, query: `select ${i} as n`, interval: `${intervalS}s`, targets: { all: true }, mode: i % 2 === 0 ? "snapshot" : "differential" });
      if (res.status !== 201) throw new Error(`create schedule: HTTP ${res.status} ${JSON.stringify(res.body)}`);
    }
    api.close();
    // The first interval starts every (schedule, agent) at its phase; measure the next whole one.
    await sleep(measureMs);
    const runs0 = await metric(hub.metricsPort, "uplink_schedule_runs_total");
    const bytes0 = storeBytes(tmp);
    progress(`ticking: hub CPU, store growth and a live query's latency over ${intervalS} s`);
    const lags = [];
    const sampling = setInterval(() => void metric(hub.metricsPort, "uplink_schedule_lag_seconds").then((v) => lags.push(v), () => undefined), 1000);
    const [tickCpu, tickQuery] = await Promise.all([cpuOver(hub.child.pid, measureMs), liveQuery(hub.port, path, headers, measureMs - 1000)]);
    clearInterval(sampling);
    const runs = (await metric(hub.metricsPort, "uplink_schedule_runs_total")) - runs0;
    const grownBytes = storeBytes(tmp) - bytes0;

    // SIGTERM to the hub alone, its schedules still running and its agents connected: exit code and time.
    progress("SIGTERM to the hub while the schedules run");
    const shutdown = await stopHub(hub.child);
    if (process.env.BENCH_SHUTDOWN_LOG) {
      const lines = readFileSync(hub.logFile, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
      const from = lines.findIndex((l) => l.msg === "hub shutting down");
      const counts = new Map();
      for (const l of lines.slice(from)) if (l.step !== undefined) progress(`  ${l.time} ${l.step}`);
      for (const l of lines.slice(from)) {
        const c = counts.get(l.msg) ?? { n: 0, first: l.time, last: l.time };
        c.n++;
        c.last = l.time;
        counts.set(l.msg, c);
      }
      for (const [msg, c] of counts) progress(`  ${c.first} … ${c.last} ×${c.n} ${msg}`);
    }

    const perHour = 3_600_000 / tickCpu.windowMs;
    // The fleet's own CPU per ms, and a live query's own (the idle window's CPU above the fleet's, per query).
    const fleetPerMs = fleetCpu.cpuMs / fleetCpu.windowMs;
    const perLiveQuery = idleQuery.count > 0 ? Math.max(0, idleCpu.cpuMs - fleetPerMs * idleCpu.windowMs) / idleQuery.count : 0;
    const runsCpuMs = tickCpu.cpuMs - fleetPerMs * tickCpu.windowMs - perLiveQuery * tickQuery.count;
    const p99Ratio = round(tickQuery.p99 / idleQuery.p99, 3);
    return {
      agents,
      schedules,
      intervalS,
      runs: { measured: runs, perSecond: round(runs / (tickCpu.windowMs / 1000)), expectedPerSecond: round((agents * schedules) / intervalS) },
      hubCpu: {
        fleetPercent: round(fleetPerMs * 100),
        idlePercent: round((idleCpu.cpuMs / idleCpu.windowMs) * 100),
        tickingPercent: round((tickCpu.cpuMs / tickCpu.windowMs) * 100),
        usPerLiveQuery: Math.round(perLiveQuery * 1000),
        usPerRun: runs > 0 ? Math.round((runsCpuMs * 1000) / runs) : null,
      },
      lagSeconds: { max: round(Math.max(0, ...lags)), last: round(lags.at(-1) ?? 0) },
      store: { growthMiBPerHour: round((grownBytes * perHour) / 1_048_576), runsPerHour: Math.round(runs * perHour), bytesPerRun: runs > 0 ? Math.round(grownBytes / runs) : null, note: "SQLite pages in use; bounded by --schedule-result-retention / --schedule-result-max-rows" },
      liveQuery: { idle: idleQuery, ticking: tickQuery, p99Ratio, addedP99Ms: round(tickQuery.p99 - idleQuery.p99, 2) },
      floor,
      shutdown,
      targets: { ...TARGETS },
      pass: p99Ratio <= TARGETS.p99Ratio,
      machine: { cpus: cpus().length, node: process.version },
    };
  } finally {
    await group.stop();
  }
}

/** SIGTERM; resolves with the exit code and how long the hub took (its own deadline is 5 s, then it exits 1). */
function stopHub(child) {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.once("exit", (code, signal) => {
      clearTimeout(kill);
      resolve({ code, signal, ms: Date.now() - t0 });
    });
    child.kill("SIGTERM");
  });
}

/** The readable table of a figures object. */
export function formatTable(f) {
  const q = (name, r) => `         ${name.padEnd(10)}${String(r.rps).padStart(8)}${r.p50.toFixed(2).padStart(9)}${r.p99.toFixed(2).padStart(9)}${r.max.toFixed(2).padStart(9)}${String(r.errors).padStart(8)}`;
  return [
    `schedules: ${f.agents} agents × ${f.schedules} schedules at ${f.intervalS} s, ${f.machine.cpus} CPUs, node ${f.machine.node}`,
    `runs     ${f.runs.measured} in one interval: ${f.runs.perSecond}/s (expected ${f.runs.expectedPerSecond}/s)`,
    `hub CPU  fleet alone ${f.hubCpu.fleetPercent} % of a core, idle with live queries ${f.hubCpu.idlePercent} % (${f.hubCpu.usPerLiveQuery} µs per live query), ticking ${f.hubCpu.tickingPercent} % (${f.hubCpu.usPerRun} µs per run)`,
    `lag      oldest due run late by ${f.lagSeconds.max} s at most, ${f.lagSeconds.last} s at the end`,
    `store    +${f.store.growthMiBPerHour} MiB/hour, ${f.store.runsPerHour} runs/hour, ${f.store.bytesPerRun} B per run (before retention)`,
    `query    ${"".padEnd(10)}${"req/s".padStart(8)}${"p50 ms".padStart(9)}${"p99 ms".padStart(9)}${"max ms".padStart(9)}${"errors".padStart(8)}`,
    q("idle", f.liveQuery.idle),
    q("ticking", f.liveQuery.ticking),
    q("floor idle", f.floor.idle),
    q("floor tick", f.floor.ticking),
    `a live query's p99 ticking/idle ${f.liveQuery.p99Ratio}, +${f.liveQuery.addedP99Ms} ms (target ≤ ${f.targets.p99Ratio}) → ${f.pass ? "PASS" : "FAIL"}`,
    `floor     the same fleet on the bare floor server sending ${Math.round(f.floor.commandsPerSecond)} commands/s (${f.floor.answered} answered): p99 ticking/idle ${f.floor.p99Ratio}, +${f.floor.addedP99Ms} ms`,
    `SIGTERM  exit ${f.shutdown.code ?? f.shutdown.signal} after ${f.shutdown.ms} ms (the hub's deadline: 5,000 ms, then exit 1)`,
  ].join("\n");
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const figures = await run();
  process.stdout.write(`${JSON.stringify(figures)}\n${formatTable(figures)}\n`);
}
