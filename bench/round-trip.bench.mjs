#!/usr/bin/env node
// Round-trip bench (DESIGN §9, first target): a single-agent query through the whole hub (auth, zod
// validation, two audit writes, info logging) against the bare floor (bench/floor-server.mjs), at 50
// concurrent callers, in one run. Each server runs in its own child process with its own stub agent
// (bench/stub-agent.mjs) in another; the load comes from this process. Phases alternate
// floor, hub, floor, hub, … (BENCH_ROUNDS rounds); each side's figure is its BEST round by throughput
// (that round's p50/p99 with it), and every round is listed too.
//
//   node bench/round-trip.bench.mjs        (or: node bench/run.mjs round-trip)
//   env: BENCH_SECONDS (measured s per phase, 5) · BENCH_WARMUP_SECONDS (= BENCH_SECONDS) · BENCH_ROUNDS (2)
//        BENCH_CONCURRENCY (50) · BENCH_CPU_PROF=<dir> (hub child runs with --cpu-prof, profile left in <dir>)
//        BENCH_HUB_BIN=<path> (another build's uplink-hub.js, e.g. to measure a candidate fix) · TMPDIR (hub data dir)
//        BENCH_HUB_ARGS="--flag value ..." (extra `serve` flags; the default is the hub's defaults)
import { mkdirSync, readFileSync } from "node:fs";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { load } from "./load.mjs";
import { childEnv, startHub as startHub_, startStubAgent, tokenOnDisk, num } from "./lib/fleet.mjs";
import { cpuMsOf, firstJsonLine, ProcessGroup } from "./lib/procs.mjs";

export { childEnv };

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const FLOOR = join(ROOT, "bench/floor-server.mjs");
const STUB = join(ROOT, "bench/stub-agent.mjs");
const TARGETS = { ratio: 0.8, p99Ms: 10 };
const QUERY_BODY = JSON.stringify({ query: "select 1" });


function progress(text) {
  process.stderr.write(`[round-trip] ${text}\n`);
}

/** A 200 answer must carry the correlationId and the stub's one-cell result. */
function checkAnswer({ body }) {
  try {
    const answer = JSON.parse(body);
    return typeof answer.correlationId === "string" && answer.result?.rows?.[0]?.[0] === 1;
  } catch {
    return false;
  }
}

/** Starts the bare floor server and its stub agent. */
export async function startFloor(group, env) {
  const server = group.spawnNode([FLOOR, "--port", "0", "--host", "127.0.0.1"], { env, name: "floor server", stderr: "pipe" });
  const { port } = await firstJsonLine(server, (v) => typeof v.port === "number");
  const agent = group.spawnNode([STUB, "--url", `ws://127.0.0.1:${port}/v1/agent`], { env, name: "floor stub agent" });
  await firstJsonLine(agent, (v) => v.ready === true);
  return { name: "floor", server, agent, port, path: "/api/v1/agents/floor-agent/query", headers: {} };
}

/** Starts a real hub (info logging to a file) and enrolls and connects a stub agent to it; its children run with {@link childEnv}. */
export async function startHub(group, tmp, profileDir) {
  const dataDir = join(tmp, "hub-data");
  mkdirSync(dataDir, { recursive: true });
  const token = (...args) => tokenOnDisk(dataDir, ...args);
  const apiToken = await token("--kind", "api", "--scope", "query", "--name", "bench");
  const enrollToken = await token("--kind", "enroll", "--name", "bench-enroll");
  const nodeArgs = profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [];
  const extra = (process.env.BENCH_HUB_ARGS ?? "").split(/\s+/).filter(Boolean);
  const { child: server, port, logFile } = await startHub_(group, dataDir, { nodeArgs, extra });

  const res = await fetch(`http://127.0.0.1:${port}/api/v1/enroll`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: enrollToken, hostname: "bench-stub", labels: { bench: "round-trip" } }),
  });
  if (res.status !== 201) throw new Error(`enroll answered ${res.status}: ${await res.text()}`);
  const { agentId, agentKey } = await res.json();
  const agent = await startStubAgent(group, port, agentKey);
  return { name: "hub", server, agent, port, logFile, dataDir, token, path: `/api/v1/agents/${agentId}/query`, headers: { Authorization: `Bearer ${apiToken}` } };
}

/** One phase against one side: load plus the CPU each process used during the measured window. */
async function phase(side, o) {
  const cpu = {};
  const sample = () => ({ server: cpuMsOf(side.server.pid), agent: cpuMsOf(side.agent.pid), bench: process.cpuUsage() });
  const figures = await load({
    port: side.port,
    path: side.path,
    body: QUERY_BODY,
    headers: side.headers,
    concurrency: o.concurrency,
    warmupMs: o.warmupMs,
    measureMs: o.measureMs,
    check: checkAnswer,
    onMeasureStart: () => (cpu.start = sample()),
    onMeasureEnd: () => (cpu.end = sample()),
  });
  const usedMs = (k) => (cpu.start?.[k] == null || cpu.end?.[k] == null ? null : cpu.end[k] - cpu.start[k]);
  const benchMs = cpu.start && cpu.end ? (cpu.end.bench.user + cpu.end.bench.system - cpu.start.bench.user - cpu.start.bench.system) / 1000 : null;
  const perReq = (ms) => (ms === null || figures.count === 0 ? null : Math.round((ms * 1000) / figures.count));
  const cores = (ms) => (ms === null ? null : Math.round((ms / o.measureMs) * 100) / 100);
  return {
    ...figures,
    cpu: {
      serverCores: cores(usedMs("server")),
      agentCores: cores(usedMs("agent")),
      loadgenCores: cores(benchMs),
      serverUsPerReq: perReq(usedMs("server")),
    },
  };
}

function best(rounds) {
  return rounds.reduce((a, b) => (b.rps > a.rps ? b : a));
}

/** Runs the bench; resolves with its figures object (see DESIGN §9). */
export async function run() {
  const measureMs = num("BENCH_SECONDS", 5) * 1000;
  const warmupMs = num("BENCH_WARMUP_SECONDS", measureMs / 1000) * 1000;
  const rounds = Math.round(num("BENCH_ROUNDS", 2));
  const concurrency = Math.round(num("BENCH_CONCURRENCY", 50));
  const profileDir = process.env.BENCH_CPU_PROF ? resolve(process.env.BENCH_CPU_PROF) : undefined;
  const env = childEnv();
  const group = new ProcessGroup();
  const tmp = group.tempDir("uplink-bench-rt-");
  try {
    progress("starting floor and hub (each with its stub agent)");
    const sides = [await startFloor(group, env), await startHub(group, tmp, profileDir)];
    const results = { floor: [], hub: [] };
    for (let r = 1; r <= rounds; r++) {
      for (const side of sides) {
        progress(`round ${r}/${rounds}: ${side.name}, ${concurrency} callers, ${warmupMs / 1000} s warm-up + ${measureMs / 1000} s measured`);
        const figures = await phase(side, { concurrency, warmupMs, measureMs });
        if (figures.firstError) {
          progress(`${side.name}: ${figures.errors} errors; first: ${figures.firstError}`);
          for (const child of [side.server, side.agent]) {
            const state = child.exitCode !== null || child.signalCode !== null ? `exited ${child.exitCode ?? child.signalCode}` : "running";
            progress(`  ${child.benchName} (${state}) stderr: ${child.stderrTail.trim().slice(-500) || "(none)"}`);
          }
          if (side.logFile) {
            const lines = readFileSync(side.logFile, "utf8").split("\n");
            const warnings = lines.filter((l) => /"level":(4|5|6)\d/.test(l));
            const stops = lines.filter((l) => /"msg":"(signal received|hub shutting down)"/.test(l));
            progress(`  hub log: ${warnings.length} warn/error lines; last: ${warnings.slice(-3).join("\n    ") || "(none)"}`);
            if (stops.length > 0) progress(`  hub log: ${stops.join("\n    ")}`);
          }
        }
        results[side.name].push(figures);
      }
    }
    const floor = best(results.floor);
    const hub = best(results.hub);
    const pick = (f) => ({ rps: f.rps, p50: f.p50, p99: f.p99, errors: f.errors, serverUsPerReq: f.cpu.serverUsPerReq });
    const ratio = floor.rps > 0 ? Math.round((hub.rps / floor.rps) * 1000) / 1000 : 0;
    const pass = ratio >= TARGETS.ratio && hub.p99 <= TARGETS.p99Ms && hub.errors === 0 && floor.errors === 0;
    return {
      floor: pick(floor),
      hub: pick(hub),
      ratio,
      targets: { ...TARGETS },
      pass,
      selection: `best of ${rounds} rounds by rps (alternating floor, hub)`,
      config: { concurrency, warmupS: warmupMs / 1000, measureS: measureMs / 1000, rounds, cpus: cpus().length, node: process.version, hubArgs: process.env.BENCH_HUB_ARGS ?? "" },
      rounds: results,
    };
  } finally {
    await group.stop();
  }
}

/** The readable table of a figures object. */
export function formatTable(f) {
  const pad = (s, n) => String(s).padStart(n);
  const row = (name, x) =>
    `${name.padEnd(10)}${pad(x.rps, 9)}${pad(x.p50.toFixed(2), 9)}${pad(x.p99.toFixed(2), 9)}${pad(x.errors, 8)}${pad(x.cpu?.serverUsPerReq ?? x.serverUsPerReq ?? "-", 12)}${pad(x.cpu?.serverCores ?? "", 8)}${pad(x.cpu?.agentCores ?? "", 7)}${pad(x.cpu?.loadgenCores ?? "", 9)}`;
  const lines = [
    `round trip: ${f.config.concurrency} callers, ${f.config.measureS} s measured after ${f.config.warmupS} s warm-up, ${f.config.cpus} CPUs, node ${f.config.node}`,
    `${"".padEnd(10)}${pad("req/s", 9)}${pad("p50 ms", 9)}${pad("p99 ms", 9)}${pad("errors", 8)}${pad("srv µs/req", 12)}${pad("srv cpu", 8)}${pad("agent", 7)}${pad("loadgen", 9)}`,
  ];
  f.rounds.floor.forEach((x, i) => {
    lines.push(row(`floor #${i + 1}`, x));
    if (f.rounds.hub[i]) lines.push(row(`hub #${i + 1}`, f.rounds.hub[i]));
  });
  lines.push(`-- ${f.selection}`);
  lines.push(row("floor", f.floor), row("hub", f.hub));
  lines.push(
    `ratio hub/floor ${f.ratio.toFixed(3)} (target ≥ ${f.targets.ratio}) · hub p99 ${f.hub.p99.toFixed(2)} ms (target ≤ ${f.targets.p99Ms}) → ${f.pass ? "PASS" : "FAIL"}`,
  );
  return lines.join("\n");
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const figures = await run();
  process.stdout.write(`${JSON.stringify(figures)}\n${formatTable(figures)}\n`);
}
