#!/usr/bin/env node
// The agent at rest (DESIGN §9: idle RSS ≤ 60 MB, idle CPU ≤ 0.5 %): a real agent connected to a real
// hub that health-polls it every 15 s. One query first starts a SQL worker process; the idle window is
// long enough to see that worker retire (it exits after 60 s unused), then RSS and CPU are read from /proc.
//
//   node bench/agent-idle.bench.mjs        (or: node bench/run.mjs agent-idle)
//   env: BENCH_IDLE_SECONDS (75)
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { cpuMsOf, ProcessGroup } from "./lib/procs.mjs";
import { startRealAgent } from "./end-to-end.bench.mjs";
import { childEnv, startHub } from "./round-trip.bench.mjs";

const TARGETS = { rssMb: 60, cpuPercent: 0.5 };

function rssMb(pid) {
  try {
    const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);
    return Math.round((kb / 1024) * 10) / 10;
  } catch {
    return null;
  }
}

function childrenOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export async function run() {
  const idleMs = (Number(process.env.BENCH_IDLE_SECONDS) || 75) * 1000;
  const group = new ProcessGroup();
  try {
    const env = childEnv();
    const tmp = group.tempDir("uplink-bench-idle-");
    const hub = await startHub(group, env, tmp);
    const agent = await startRealAgent(group, env, tmp, hub);
    const pid = agent.agent.pid;
    const afterQuery = { agentMb: rssMb(pid), workers: childrenOf(pid).map((w) => ({ pid: w, mb: rssMb(w) })) };
    process.stderr.write(`[agent-idle] idling ${idleMs / 1000} s\n`);
    await new Promise((r) => setTimeout(r, idleMs - 60_000 > 0 ? idleMs - 60_000 : 0));
    const windowMs = Math.min(60_000, idleMs);
    const cpu0 = cpuMsOf(pid);
    await new Promise((r) => setTimeout(r, windowMs));
    const cpu1 = cpuMsOf(pid);
    const workersLeft = childrenOf(pid);
    return {
      bench: "agent-idle",
      idleSeconds: idleMs / 1000,
      afterFirstQuery: afterQuery,
      idle: {
        agentRssMb: rssMb(pid),
        workerProcesses: workersLeft.length,
        workersRssMb: workersLeft.reduce((sum, w) => sum + (rssMb(w) ?? 0), 0),
        cpuPercent: cpu0 === null || cpu1 === null ? null : Math.round(((cpu1 - cpu0) / windowMs) * 100 * 100) / 100,
        cpuWindowSeconds: windowMs / 1000,
      },
      targets: TARGETS,
    };
  } finally {
    await group.stop();
  }
}

export function formatTable(f) {
  const pass = (ok) => (ok ? "ok" : "over target");
  return [
    `agent idle (${f.idleSeconds} s, health polls every 15 s)`,
    `after the first query: agent ${f.afterFirstQuery.agentMb} MB + ${f.afterFirstQuery.workers.length} SQL worker(s) ${f.afterFirstQuery.workers.map((w) => `${w.mb} MB`).join(", ")}`,
    `idle RSS   ${f.idle.agentRssMb} MB (+ ${f.idle.workerProcesses} worker(s), ${f.idle.workersRssMb} MB)   target ≤ ${f.targets.rssMb} MB: ${pass(f.idle.agentRssMb + f.idle.workersRssMb <= f.targets.rssMb)}`,
    `idle CPU   ${f.idle.cpuPercent} % over ${f.idle.cpuWindowSeconds} s   target ≤ ${f.targets.cpuPercent} %: ${pass(f.idle.cpuPercent !== null && f.idle.cpuPercent <= f.targets.cpuPercent)}`,
  ].join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const figures = await run();
  console.log(JSON.stringify(figures));
  console.log(formatTable(figures));
}
