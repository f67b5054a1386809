#!/usr/bin/env node
// Scale bench (DESIGN §9, second target): one hub process holding BENCH_AGENTS lightweight agents (default
// 20,000; aim 50,000), every one health-polled every 15 s. The agents are bare sockets
// (bench/lib/swarm.mjs) in BENCH_SWARMS child processes spread over 127.0.0.1–127.0.0.8 as source
// addresses; each child and the hub run with `ulimit -n` raised as far as the system allows (a hub needs
// one descriptor per agent, so the hard limit caps the fleet; the figures say when it did).
//
// Measured, all on this machine in one run:
//   - hub RSS with no fleet (one stub agent), and with the whole fleet connected and polled: KiB per agent
//   - hub CPU during steady polling (one full health interval, no user queries): % of a core, µs per poll
//   - a user query's latency (POST /api/v1/agents/:id/query to the stub agent, BENCH_SECONDS measured):
//     one caller at a time (a user's query: the headline p99) and BENCH_CONCURRENCY callers (the hub
//     saturated), p50/p99 on the idle hub, then under the fleet
// Targets: ≤ 16 KiB per agent above idle; a user query's loaded p99 ≤ 1.25 × its idle p99.
//
//   node bench/scale.bench.mjs        (or: node bench/run.mjs scale)
//   env: BENCH_AGENTS (20000) · BENCH_SWARMS (8) · BENCH_SECONDS (10) · BENCH_CONCURRENCY (10) · BENCH_HEALTH_INTERVAL_S (15)
import { cpus } from "node:os";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { load } from "./load.mjs";
import { cpuMsOf, ProcessGroup } from "./lib/procs.mjs";
import { client, enrollAgents, fdLimitOf, fleetSize, metric, rssKiB, startHub, startStubAgent, startSwarms, swarmTotals, tokenOnDisk, until, num } from "./lib/fleet.mjs";

const TARGETS = { kibPerAgent: 16, p99Ratio: 1.25 };

const progress = (text) => process.stderr.write(`[scale] ${text}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Median of a few RSS samples `gapMs` apart (a single sample can catch a GC in the middle). */
async function steadyRss(pid, samples = 5, gapMs = 1000) {
  const values = [];
  for (let i = 0; i < samples; i++) {
    values.push(rssKiB(pid));
    if (i < samples - 1) await sleep(gapMs);
  }
  return values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
}

async function queryLatency(port, path, headers, o) {
  const r = await load({ port, path, body: JSON.stringify({ query: "select 1" }), headers, concurrency: o.concurrency, warmupMs: 2000, measureMs: o.measureMs });
  return { rps: r.rps, p50: r.p50, p99: r.p99, max: r.max, count: r.count, errors: r.errors, firstError: r.firstError };
}

/** Runs the bench; resolves with its figures. */
export async function run() {
  const wanted = Math.round(num("BENCH_AGENTS", 20_000));
  const processes = Math.round(num("BENCH_SWARMS", 8));
  const measureMs = num("BENCH_SECONDS", 10) * 1000;
  const concurrency = Math.round(num("BENCH_CONCURRENCY", 10));
  const healthIntervalS = num("BENCH_HEALTH_INTERVAL_S", 15);
  const group = new ProcessGroup();
  const tmp = group.tempDir("uplink-bench-scale-");
  try {
    const { agents, hard } = await fleetSize(wanted, progress);

    const adminToken = await tokenOnDisk(tmp, "--kind", "api", "--scope", "admin", "--name", "bench");
    const enrollToken = await tokenOnDisk(tmp, "--kind", "enroll", "--name", "bench-fleet");
    const hub = await startHub(group, tmp, { extra: ["--health-interval", `${healthIntervalS}s`] });
    const hubFdLimit = fdLimitOf(hub.child.pid);
    progress(`hub pid ${hub.child.pid} on port ${hub.port}, open-files limit ${hubFdLimit}`);

    const api = client(hub.port, adminToken);
    const [stubKey] = await enrollAgents(hub.port, enrollToken, 1);
    const stubId = stubKey.split(".")[0];
    await startStubAgent(group, hub.port, stubKey);
    const path = `/api/v1/agents/${stubId}/query`;
    const headers = { Authorization: `Bearer ${adminToken}` };

    progress(`idle hub: query latency, 1 then ${concurrency} callers, ${measureMs / 1000} s each`);
    const idleQuery = await queryLatency(hub.port, path, headers, { concurrency: 1, measureMs });
    const idleConcurrent = await queryLatency(hub.port, path, headers, { concurrency, measureMs });
    await sleep(2000);
    const idleRssKiB = await steadyRss(hub.child.pid);
    progress(`idle hub: RSS ${(idleRssKiB / 1024).toFixed(1)} MiB, query p50 ${idleQuery.p50} ms p99 ${idleQuery.p99} ms`);

    progress(`enrolling ${agents} agents`);
    const t0 = Date.now();
    const keys = await enrollAgents(hub.port, enrollToken, agents, { progress });
    const enrollS = (Date.now() - t0) / 1000;

    progress(`connecting ${agents} agents from ${processes} processes over 127.0.0.1–127.0.0.${Math.min(8, processes)}`);
    const t1 = Date.now();
    const swarms = startSwarms(group, tmp, { url: `ws://127.0.0.1:${hub.port}/v1/agent`, keys, processes, rampConcurrency: 100 });
    await until(`${agents} agents connected`, async () => (await metric(hub.metricsPort, "uplink_agents_connected")) >= agents + 1, { timeoutMs: 600_000, everyMs: 1000 });
    const connectS = (Date.now() - t1) / 1000;
    progress(`all connected in ${connectS.toFixed(1)} s; waiting one health interval so every agent has been polled`);
    await sleep(healthIntervalS * 1000 + 3000);

    // Steady polling: CPU over one whole interval, with no user queries.
    const polledBefore = swarmTotals(swarms).answered;
    const cpu0 = cpuMsOf(hub.child.pid);
    const w0 = Date.now();
    await sleep(healthIntervalS * 1000);
    const cpuMs = cpuMsOf(hub.child.pid) - cpu0;
    const windowMs = Date.now() - w0;
    const polls = swarmTotals(swarms).answered - polledBefore;
    const loadedRssKiB = await steadyRss(hub.child.pid);
    const failures = await metric(hub.metricsPort, "uplink_health_poll_failures_total");
    progress(`steady: ${polls} polls in ${(windowMs / 1000).toFixed(1)} s, hub CPU ${cpuMs} ms, RSS ${(loadedRssKiB / 1024).toFixed(1)} MiB`);

    progress(`loaded hub: query latency, 1 then ${concurrency} callers, ${measureMs / 1000} s each`);
    const loadedQuery = await queryLatency(hub.port, path, headers, { concurrency: 1, measureMs });
    const loadedConcurrent = await queryLatency(hub.port, path, headers, { concurrency, measureMs });
    const online = (await api.call("GET", "/api/v1/agents?status=online")).body.agents?.length;
    api.close();

    const kibPerAgent = Math.round(((loadedRssKiB - idleRssKiB) / agents) * 100) / 100;
    const p99Ratio = Math.round((loadedQuery.p99 / idleQuery.p99) * 1000) / 1000;
    const totals = swarmTotals(swarms);
    return {
      agents,
      requestedAgents: wanted,
      limitedBy: agents < wanted ? `open-files hard limit ${hard}` : null,
      hubFdLimit,
      swarmProcesses: processes,
      healthIntervalS,
      enrollS: Math.round(enrollS * 10) / 10,
      connectS: Math.round(connectS * 10) / 10,
      memory: { idleRssMiB: Math.round(idleRssKiB / 102.4) / 10, loadedRssMiB: Math.round(loadedRssKiB / 102.4) / 10, kibPerAgent },
      polling: {
        windowS: Math.round(windowMs / 100) / 10,
        polls,
        pollsPerS: Math.round((polls / windowMs) * 1000),
        hubCpuPercent: Math.round((cpuMs / windowMs) * 1000) / 10,
        hubCpuUsPerPoll: polls > 0 ? Math.round((cpuMs * 1000) / polls) : null,
        healthPollFailures: failures,
        onlineAfter: online,
      },
      query: { idle: idleQuery, loaded: loadedQuery, p99Ratio, measureS: measureMs / 1000 },
      concurrentQuery: { idle: idleConcurrent, loaded: loadedConcurrent, p99Ratio: Math.round((loadedConcurrent.p99 / idleConcurrent.p99) * 1000) / 1000, concurrency },
      swarm: { refused: totals.refused, errors: totals.errors, attempts: totals.attempts },
      targets: { ...TARGETS },
      pass: kibPerAgent <= TARGETS.kibPerAgent && p99Ratio <= TARGETS.p99Ratio,
      machine: { cpus: cpus().length, node: process.version },
    };
  } finally {
    await group.stop();
  }
}

/** The readable table of a figures object. */
export function formatTable(f) {
  const lines = [
    `scale: ${f.agents} agents${f.limitedBy ? ` (asked ${f.requestedAgents}; ${f.limitedBy})` : ""} in ${f.swarmProcesses} processes, health every ${f.healthIntervalS} s, ${f.machine.cpus} CPUs, node ${f.machine.node}`,
    `enrolled in ${f.enrollS} s, connected in ${f.connectS} s`,
    `memory   idle ${f.memory.idleRssMiB} MiB → loaded ${f.memory.loadedRssMiB} MiB = ${f.memory.kibPerAgent} KiB/agent (target ≤ ${f.targets.kibPerAgent})`,
    `polling  ${f.polling.polls} polls in ${f.polling.windowS} s (${f.polling.pollsPerS}/s): hub CPU ${f.polling.hubCpuPercent} % of a core, ${f.polling.hubCpuUsPerPoll} µs/poll, ${f.polling.healthPollFailures} failures, ${f.polling.onlineAfter} online`,
    `query    ${"".padEnd(16)}${"req/s".padStart(8)}${"p50 ms".padStart(9)}${"p99 ms".padStart(9)}${"max ms".padStart(9)}${"errors".padStart(8)}`,
  ];
  const rows = [
    ["1 caller, idle", f.query.idle],
    ["1 caller, fleet", f.query.loaded],
    [`${f.concurrentQuery.concurrency} callers, idle`, f.concurrentQuery.idle],
    [`${f.concurrentQuery.concurrency} callers, fleet`, f.concurrentQuery.loaded],
  ];
  for (const [name, q] of rows) {
    lines.push(`         ${name.padEnd(16)}${String(q.rps).padStart(8)}${q.p50.toFixed(2).padStart(9)}${q.p99.toFixed(2).padStart(9)}${q.max.toFixed(2).padStart(9)}${String(q.errors).padStart(8)}`);
  }
  lines.push(`${f.concurrentQuery.concurrency} callers (hub saturated): p99 fleet/idle ${f.concurrentQuery.p99Ratio}`);
  lines.push(`a user query's p99 fleet/idle ${f.query.p99Ratio} (target ≤ ${f.targets.p99Ratio}); ${f.memory.kibPerAgent} KiB/agent (target ≤ ${f.targets.kibPerAgent}) → ${f.pass ? "PASS" : "FAIL"}`);
  return lines.join("\n");
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const figures = await run();
  process.stdout.write(`${JSON.stringify(figures)}\n${formatTable(figures)}\n`);
}
