#!/usr/bin/env node
// The packaged agent (DESIGN §9: "the packaged agent measured too") next to the workspace agent: the
// single executable's size (on disk, and compressed as the tarball and the .deb ship it), its start time
// from exec to the first connected socket, and its idle RSS after one query, on one real hub.
//
//   node bench/agent-package.bench.mjs     (or: node bench/run.mjs agent-package)
//   env: BENCH_PKG_STARTS (5 starts per agent, median reported), BENCH_PKG_IDLE_SECONDS (15)
import { execFileSync, spawn } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { ProcessGroup } from "./lib/procs.mjs";
import { childEnv, startHub } from "./round-trip.bench.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const AGENT_BIN = join(ROOT, "packages/agent/bin/uplink-agent.js");
const PACKAGES = join(ROOT, "dist", "packages");

const mib = (bytes) => Math.round((bytes / 1048576) * 10) / 10;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function rssMb(pid) {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);
  return Math.round((kb / 1024) * 10) / 10;
}

/** Starts `file args` and resolves with the child and the ms from spawn to its `to: "open"` log line. */
function startUntilConnected(group, file, args, env, name) {
  const started = process.hrtime.bigint();
  const child = group.adopt(spawn(file, args, { stdio: ["ignore", "pipe", "pipe"], env }), name);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not connect within 30 s: ${child.stderrTail}`)), 30_000);
    child.once("exit", (code) => reject(new Error(`${name} exited ${code} before connecting: ${child.stderrTail}`)));
    createInterface({ input: child.stdout }).on("line", (line) => {
      if (!line.includes('"to":"open"')) return;
      clearTimeout(timer);
      resolve({ child, ms: Number(process.hrtime.bigint() - started) / 1e6 });
    });
  });
}

async function stop(child) {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
}

async function measure(group, hub, label, file, argsFor, env, starts, idleMs, tmp) {
  const res = await fetch(`http://127.0.0.1:${hub.port}/api/v1/enroll`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: hub.enrollToken, hostname: `bench-${label}`, labels: {} }),
  });
  const { agentId, agentKey } = await res.json();
  const state = join(tmp, `${label}-state.json`);
  writeFileSync(state, JSON.stringify({ hub: `http://127.0.0.1:${hub.port}`, agentId, agentKey, labels: {} }), { mode: 0o600 });
  const times = [];
  let last;
  for (let i = 0; i < starts; i++) {
    if (last !== undefined) await stop(last);
    const { child, ms } = await startUntilConnected(group, file, argsFor(state), env, label);
    times.push(Math.round(ms));
    last = child;
  }
  // One query (starts a worker), then idle: the main process's RSS is read after the window.
  const q = await fetch(`http://127.0.0.1:${hub.port}/api/v1/agents/${agentId}/query`, {
    method: "POST",
    headers: { ...hub.headers, "Content-Type": "application/json" },
    body: JSON.stringify({ query: "select count(*) from processes" }),
  });
  if (q.status !== 200) throw new Error(`${label}: query answered ${q.status}: ${await q.text()}`);
  await new Promise((r) => setTimeout(r, idleMs));
  const rss = rssMb(last.pid);
  await stop(last);
  return { startToConnectedMs: median(times), startsMs: times, idleRssMb: rss };
}

export async function run() {
  const starts = Number(process.env.BENCH_PKG_STARTS) || 5;
  const idleMs = (Number(process.env.BENCH_PKG_IDLE_SECONDS) || 15) * 1000;
  process.stderr.write("[agent-package] pnpm package (skipped when up to date)\n");
  execFileSync(process.execPath, [join(ROOT, "scripts/package/package.mjs"), "--if-stale"], { stdio: ["ignore", "ignore", "inherit"] });
  const version = JSON.parse(readFileSync(join(ROOT, "packages/agent/package.json"), "utf8")).version;
  const debArch = process.arch === "x64" ? "amd64" : process.arch;
  const tarball = join(PACKAGES, `uplink-agent-${version}-linux-${process.arch}.tar.gz`);
  const deb = join(PACKAGES, `uplink-agent_${version}_${debArch}.deb`);

  const group = new ProcessGroup();
  try {
    const tmp = group.tempDir("uplink-bench-pkg-");
    execFileSync("tar", ["-xzf", tarball, "-C", tmp]);
    const exe = join(tmp, `uplink-agent-${version}-linux-${process.arch}`, "uplink-agent");
    const env = childEnv();
    const hub = await startHub(group, tmp);
    hub.enrollToken = await hub.token("--kind", "enroll", "--name", "bench-package");
    const runArgs = (state) => ["run", "--state", state, "--log-level", "info"];
    const packaged = await measure(group, hub, "packaged", exe, runArgs, { PATH: "/nonexistent", TMPDIR: tmp }, starts, idleMs, tmp);
    const workspace = await measure(group, hub, "workspace", process.execPath, (s) => [AGENT_BIN, ...runArgs(s)], env, starts, idleMs, tmp);
    return {
      bench: "agent-package",
      executableMiB: mib(statSync(exe).size),
      tarballMiB: mib(statSync(tarball).size),
      debMiB: mib(statSync(deb).size),
      idleSeconds: idleMs / 1000,
      packaged,
      workspace,
    };
  } finally {
    await group.stop();
  }
}

export function formatTable(f) {
  return [
    `executable ${f.executableMiB} MiB · tarball ${f.tarballMiB} MiB · .deb ${f.debMiB} MiB (gzip)`,
    `                 start → connected (median)   idle RSS after ${f.idleSeconds} s`,
    `packaged agent   ${String(f.packaged.startToConnectedMs).padStart(8)} ms                  ${f.packaged.idleRssMb} MB`,
    `workspace agent  ${String(f.workspace.startToConnectedMs).padStart(8)} ms                  ${f.workspace.idleRssMb} MB`,
  ].join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const figures = await run();
  process.stdout.write(`${JSON.stringify(figures)}\n${formatTable(figures)}\n`);
}
