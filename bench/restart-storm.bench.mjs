#!/usr/bin/env node
// Restart-storm bench (DESIGN §9): BENCH_AGENTS lightweight agents (default 20,000) connected to one hub;
// the hub gets SIGTERM and a new one starts on the same port and data dir; how long until every agent is
// online again, and was anyone refused wrongly? The agents (bench/lib/swarm.mjs, BENCH_SWARMS processes over
// 127.0.0.1–127.0.0.8) reconnect like the real agent: full-jitter backoff (1 s base, 60 s cap), reset after
// 30 s of stable connection, Retry-After honoured, 401/403 fatal. Before the restart the fleet has been
// connected for over 30 s, so every backoff starts from the base.
//
// Figures: time for the old hub to stop (and where it went: the steps its shutdown logged, each with the ms
// into the shutdown it ended), for the new one to listen, and until `uplink_agents_connected` counts the
// whole fleet (from SIGTERM and from listening); the online count over time; refusals by HTTP status (503s
// are the new hub pacing handshakes) and connection errors by code during the storm. Targets: the old hub
// exits 0 within 5 s; all back within 30 s of the new one listening, none refused wrongly.
//
//   node bench/restart-storm.bench.mjs        (or: node bench/run.mjs restart-storm)
//   env: BENCH_AGENTS (20000) · BENCH_SWARMS (8) · BENCH_STABLE_S (32: wait before the restart)
//   · BENCH_CPU_PROF (a directory: the old hub runs with --cpu-prof there, its profile written as it exits)
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ProcessGroup } from "./lib/procs.mjs";
import { cpuProfileArgs, enrollAgents, fleetSize, metric, startHub, startSwarms, swarmTotals, tokenOnDisk, until, num } from "./lib/fleet.mjs";

const TARGETS = { stopS: 5, allOnlineS: 30 };

const progress = (text) => process.stderr.write(`[restart-storm] ${text}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Subtracts two `{key: count}` maps. */
function delta(after, before) {
  const out = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) > 0) out[k] = v - (before[k] ?? 0);
  return out;
}

/** The steps a hub's shutdown logged (hub.ts: each line after "hub shutting down" that carries `ms`), as {msg: ms}. */
function shutdownSteps(logFile) {
  const steps = {};
  for (const line of readFileSync(logFile, "utf8").split("\n")) {
    if (!line.includes('"ms":')) continue;
    try {
      const v = JSON.parse(line);
      if (typeof v.ms === "number") steps[v.msg] = v.ms;
    } catch {}
  }
  return steps;
}

/** Runs the bench; resolves with its figures. */
export async function run() {
  const wanted = Math.round(num("BENCH_AGENTS", 20_000));
  const processes = Math.round(num("BENCH_SWARMS", 8));
  const stableS = num("BENCH_STABLE_S", 32);
  const group = new ProcessGroup();
  const tmp = group.tempDir("uplink-bench-storm-");
  try {
    const { agents, hard } = await fleetSize(wanted, progress);
    const enrollToken = await tokenOnDisk(tmp, "--kind", "enroll", "--name", "bench-fleet");
    let hub = await startHub(group, tmp, { nodeArgs: cpuProfileArgs() });
    const port = hub.port;
    progress(`enrolling ${agents} agents`);
    const keys = await enrollAgents(port, enrollToken, agents, { progress });
    const swarms = startSwarms(group, tmp, { url: `ws://127.0.0.1:${port}/v1/agent`, keys, processes, rampConcurrency: 100 });
    const c0 = Date.now();
    await until(`${agents} connected`, async () => (await metric(hub.metricsPort, "uplink_agents_connected")) >= agents, { timeoutMs: 600_000, everyMs: 1000 });
    progress(`all ${agents} connected in ${((Date.now() - c0) / 1000).toFixed(1)} s; holding ${stableS} s so every connection is stable`);
    await sleep(stableS * 1000);
    const before = swarmTotals(swarms);

    progress("SIGTERM to the hub");
    const t0 = Date.now();
    const exited = new Promise((r) => hub.child.once("exit", (code, signal) => r({ code, signal })));
    hub.child.kill("SIGTERM");
    const exit = await exited;
    const stoppedMs = Date.now() - t0;
    const steps = shutdownSteps(hub.logFile);
    hub = await startHub(group, tmp, { port, logName: "hub-2.log", name: "hub (restarted)" });
    const listeningMs = Date.now() - t0;
    progress(`old hub exited ${exit.code ?? exit.signal} after ${stoppedMs} ms; new hub listening at +${listeningMs} ms`);

    const curve = [];
    let allOnlineMs = null;
    while (Date.now() - t0 < 180_000) {
      const online = await metric(hub.metricsPort, "uplink_agents_connected");
      const at = Date.now() - t0;
      if (curve.length === 0 || at - curve.at(-1).atMs >= 1000) curve.push({ atMs: at, online });
      if (online >= agents) {
        allOnlineMs = at;
        curve.push({ atMs: at, online });
        break;
      }
      await sleep(200);
    }
    progress(allOnlineMs === null ? "not all back within 180 s" : `all ${agents} online at +${allOnlineMs} ms (${allOnlineMs - listeningMs} ms after listening)`);
    await sleep(1200); // one more swarm report
    const after = swarmTotals(swarms);
    const refused = delta(after.refused, before.refused);
    const wrong = (refused["401"] ?? 0) + (refused["403"] ?? 0) + (after.stopped - before.stopped);
    return {
      agents,
      requestedAgents: wanted,
      limitedBy: agents < wanted ? `open-files hard limit ${hard}` : null,
      swarmProcesses: processes,
      oldHubExit: exit.code ?? exit.signal,
      stoppedMs,
      shutdownSteps: steps,
      listeningMs,
      allOnlineMs,
      allOnlineAfterListeningMs: allOnlineMs === null ? null : allOnlineMs - listeningMs,
      attempts: after.attempts - before.attempts,
      refusedByStatus: refused,
      connectErrors: delta(after.errors, before.errors),
      closeCodes: delta(after.closeCodes, before.closeCodes),
      refusedWrongly: wrong,
      retryAfterViolations: after.retryAfterViolations,
      maxBackoffAttempt: after.maxAttempt,
      curve,
      targets: { ...TARGETS },
      pass: exit.code === 0 && stoppedMs <= TARGETS.stopS * 1000 && allOnlineMs !== null && allOnlineMs - listeningMs <= TARGETS.allOnlineS * 1000 && wrong === 0,
      machine: { cpus: cpus().length, node: process.version },
    };
  } finally {
    await group.stop();
  }
}

/** The readable table of a figures object. */
export function formatTable(f) {
  const lines = [
    `restart storm: ${f.agents} agents${f.limitedBy ? ` (asked ${f.requestedAgents}; ${f.limitedBy})` : ""} in ${f.swarmProcesses} processes, ${f.machine.cpus} CPUs, node ${f.machine.node}`,
    `old hub exited ${f.oldHubExit} after ${f.stoppedMs} ms — target exit 0 within ${f.targets.stopS} s; new hub listening at +${f.listeningMs} ms`,
    `shutdown steps (ms into it): ${Object.entries(f.shutdownSteps).map(([k, v]) => `${k} ${v}`).join(" · ") || "none logged"}`,
    `all online at +${f.allOnlineMs ?? "never"} ms (${f.allOnlineAfterListeningMs ?? "-"} ms after listening) — target ≤ ${f.targets.allOnlineS} s`,
    `close codes the agents saw ${JSON.stringify(f.closeCodes)}`,
    `attempts ${f.attempts}; refused by status ${JSON.stringify(f.refusedByStatus)}; connect errors ${JSON.stringify(f.connectErrors)}; refused wrongly ${f.refusedWrongly}; max backoff attempt ${f.maxBackoffAttempt}`,
    `online over time: ${f.curve.map((p) => `+${(p.atMs / 1000).toFixed(1)}s ${p.online}`).join(" · ")}`,
    f.pass ? "PASS" : "FAIL",
  ];
  return lines.join("\n");
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const figures = await run();
  process.stdout.write(`${JSON.stringify(figures)}\n${formatTable(figures)}\n`);
}
