#!/usr/bin/env node
// The agent at rest, as hosts run it: the workspace agent (`pnpm build`, `node bin/uplink-agent.js run`)
// and the packaged single executable (`pnpm package`, unpacked from its tarball), side by side on one real
// hub that health-polls both every 15 s.
//
// Each answers `select * from processes` 20 times: its SQL worker's memory is read then (a live worker),
// and again once the agent has idled long enough for that worker to retire (60 s unused). Figures:
//   idle RSS     the daemon's resident memory after the idle window       target ≤ 45 MB
//   worker adds  a live worker's unique memory (USS: what its exit gives back; the executable's and the
//                libraries' pages it shares with the daemon are not added by it)   target ≤ 30 MB
//   idle CPU     the daemon's CPU over the last 60 s                       target ≤ 0.5 %
// Floor: a bare `node` that loaded nothing (RSS), measured in the same run: no Node process goes below it.
// Where each idle daemon's RSS lies (the profile of what is over target): pages of its executable (the
// Node binary, or the packaged one), anonymous memory (the V8 heap and everything else it allocated),
// shared libraries; the floor's the same way.
//
//   node bench/agent-idle.bench.mjs        (or: node bench/run.mjs agent-idle)
//   env: BENCH_IDLE_SECONDS (180), BENCH_IDLE_PACKAGED=0 skips the packaged agent (and `pnpm package`)
import { execFileSync, spawn } from "node:child_process";
import { readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { bareNodeMemory, childrenOf, memoryOf } from "./lib/memory.mjs";
import { cpuMsOf, ProcessGroup } from "./lib/procs.mjs";
import { childEnv, startHub } from "./round-trip.bench.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const AGENT_BIN = join(ROOT, "packages/agent/bin/uplink-agent.js");

export const TARGETS = { idleRssMb: 45, workerUssMb: 30, cpuPercent: 0.5 };
const QUERIES = 20;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A process's resident MB by what its pages belong to: its executable, anonymous memory, shared libraries, the rest. */
function residentByKind(pid) {
  const exe = readlinkSync(`/proc/${pid}/exe`);
  const kb = { executable: 0, anonymous: 0, libraries: 0, other: 0 };
  let kind = "other";
  try {
    for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
      const mapping = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
      if (mapping !== null) {
        const name = mapping[1];
        kind = name === exe ? "executable" : name === "" || name === "[heap]" || name === "[stack]" ? "anonymous" : /\.so(\.|$)/.test(name) ? "libraries" : "other";
      } else if (line.startsWith("Rss:")) {
        kb[kind] += Number(line.split(/\s+/)[1]);
      }
    }
  } catch {
    return null;
  }
  return Object.fromEntries(Object.entries(kb).map(([k, v]) => [k, Math.round((v / 1024) * 10) / 10]));
}

/** The packaged executable, unpacked from its tarball as install.sh would (built first when stale). */
function packagedExecutable(tmp) {
  process.stderr.write("[agent-idle] pnpm package (skipped when up to date)\n");
  execFileSync(process.execPath, [join(ROOT, "scripts/package/package.mjs"), "--if-stale"], { stdio: ["ignore", "ignore", "inherit"] });
  const version = JSON.parse(readFileSync(join(ROOT, "packages/agent/package.json"), "utf8")).version;
  const base = `uplink-agent-${version}-linux-${process.arch}`;
  execFileSync("tar", ["-xzf", join(ROOT, "dist", "packages", `${base}.tar.gz`), "-C", tmp]);
  return join(tmp, base, "uplink-agent");
}

async function enroll(hub, tmp, label) {
  const token = await hub.token("--kind", "enroll", "--name", `bench-idle-${label}`);
  const res = await fetch(`http://127.0.0.1:${hub.port}/api/v1/enroll`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token, hostname: `bench-idle-${label}`, labels: {} }),
  });
  const { agentId, agentKey } = await res.json();
  const state = join(tmp, `${label}-state.json`);
  writeFileSync(state, JSON.stringify({ hub: `http://127.0.0.1:${hub.port}`, agentId, agentKey, labels: {} }), { mode: 0o600 });
  return { agentId, state };
}

/** Starts one agent (no bench preload in it: its memory is the figure) and runs the queries through the hub. */
async function startAgent(group, hub, tmp, label, file, args, env) {
  const { agentId, state } = await enroll(hub, tmp, label);
  const child = group.adopt(spawn(file, [...args, "run", "--state", state, "--log-level", "warn"], { stdio: ["ignore", "ignore", "pipe"], env }), label);
  const query = () =>
    fetch(`http://127.0.0.1:${hub.port}/api/v1/agents/${agentId}/query`, {
      method: "POST",
      headers: { ...hub.headers, "Content-Type": "application/json" },
      body: JSON.stringify({ query: "select * from processes" }),
    });
  for (let i = 0; ; i++) {
    if ((await query()).status === 200) break;
    if (i === 150 || child.exitCode !== null) throw new Error(`${label} never answered: ${child.stderrTail}`);
    await sleep(100);
  }
  const workerAfter = (n) => childrenOf(child.pid).map((pid) => ({ queries: n, ...memoryOf(pid) }));
  const first = workerAfter(1);
  for (let i = 1; i < QUERIES; i++) await query();
  return { label, child, workers: [...first, ...workerAfter(QUERIES)] };
}

/** The floor's profile (residentByKind) after the same settling time as bareNodeMemory's. */
async function bareNodeProfile() {
  const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1 << 30)"], { stdio: "ignore" });
  try {
    await sleep(2_000);
    return residentByKind(child.pid);
  } finally {
    child.kill("SIGKILL");
  }
}

export async function run() {
  const idleMs = Math.max(75, Number(process.env.BENCH_IDLE_SECONDS) || 180) * 1000;
  const group = new ProcessGroup();
  try {
    const env = childEnv();
    const tmp = group.tempDir("uplink-bench-idle-");
    const exe = process.env.BENCH_IDLE_PACKAGED === "0" ? undefined : packagedExecutable(tmp);
    const floor = await bareNodeMemory();
    const floorProfile = await bareNodeProfile();
    const hub = await startHub(group, tmp);
    const agents = [await startAgent(group, hub, tmp, "workspace", process.execPath, [AGENT_BIN], env)];
    if (exe !== undefined) {
      agents.push(await startAgent(group, hub, tmp, "packaged", exe, [], { ...env, TMPDIR: tmp }));
    }
    process.stderr.write(`[agent-idle] idling ${idleMs / 1000} s\n`);
    await sleep(idleMs - 60_000);
    const cpu0 = agents.map((a) => cpuMsOf(a.child.pid));
    await sleep(60_000);
    const figures = {};
    for (const [i, a] of agents.entries()) {
      const cpu1 = cpuMsOf(a.child.pid);
      figures[a.label] = {
        idle: memoryOf(a.child.pid),
        idleProfile: residentByKind(a.child.pid),
        workersLeft: childrenOf(a.child.pid).length,
        cpuPercent: cpu0[i] === null || cpu1 === null ? null : Math.round(((cpu1 - cpu0[i]) / 60_000) * 100 * 100) / 100,
        liveWorker: a.workers,
      };
    }
    return { bench: "agent-idle", idleSeconds: idleMs / 1000, floor, floorProfile, agents: figures, targets: TARGETS };
  } finally {
    await group.stop();
  }
}

export function formatTable(f) {
  const verdict = (value, target) => (value === null || value === undefined ? "n/a" : value <= target ? "ok" : "over target");
  const lines = [
    `agent idle: ${f.idleSeconds} s, health polls every 15 s; floor: bare node ${f.floor?.rssMb} MB RSS (${f.floor?.ussMb} MB unique)`,
    `${"".padEnd(10)}  ${"figure".padEnd(44)}  ${"value".padStart(8)}  ${"target".padStart(8)}  ${"floor".padStart(8)}`,
  ];
  const row = (label, name, value, target, floor, ok) =>
    lines.push(`${label.padEnd(10)}  ${name.padEnd(44)}  ${String(value).padStart(8)}  ${target.padStart(8)}  ${String(floor).padStart(8)}  ${ok}`);
  for (const [label, a] of Object.entries(f.agents)) {
    row(label, `idle RSS MB (${a.workersLeft} worker left)`, a.idle?.rssMb, `≤ ${f.targets.idleRssMb}`, f.floor?.rssMb, verdict(a.idle?.rssMb, f.targets.idleRssMb));
    for (const kind of ["executable", "anonymous", "libraries", "other"]) {
      row("", `  of it ${kind} MB`, a.idleProfile?.[kind], "", f.floorProfile?.[kind] ?? "", "");
    }
    for (const w of a.liveWorker) {
      row("", `worker after ${w.queries} quer${w.queries === 1 ? "y" : "ies"}: adds MB (USS)`, w.ussMb, `≤ ${f.targets.workerUssMb}`, f.floor?.ussMb, verdict(w.ussMb, f.targets.workerUssMb));
      row("", `  its RSS MB (PSS ${w.pssMb})`, w.rssMb, "", f.floor?.rssMb, "");
    }
    row("", "idle CPU % (last 60 s)", a.cpuPercent, `≤ ${f.targets.cpuPercent}`, "", verdict(a.cpuPercent, f.targets.cpuPercent));
  }
  return lines.join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const figures = await run();
  console.log(JSON.stringify(figures));
  console.log(formatTable(figures));
}
