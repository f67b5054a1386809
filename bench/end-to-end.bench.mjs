#!/usr/bin/env node
// End-to-end latency of a simple query (`select 1`) from one caller at a time, three ways in one run:
// the bare floor (node:http + ws + a Map of waiters, stub agent), the real hub with the stub agent, and
// the real hub with the real agent and its SQL engine (worker process, read-only guard, caps). The
// differences are what the hub and what the host SQL engine add to a round trip.
//
//   node bench/end-to-end.bench.mjs        (or: node bench/run.mjs end-to-end)
//   env: BENCH_SECONDS (measured s per side, 5)
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { load } from "./load.mjs";
import { ProcessGroup } from "./lib/procs.mjs";
import { childEnv, startFloor, startHub } from "./round-trip.bench.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const AGENT_BIN = join(ROOT, "packages/agent/bin/uplink-agent.js");
const QUERY_BODY = JSON.stringify({ query: "select 1" });

/** Enrolls the real agent on the hub, starts its daemon, and waits until a query is answered. */
export async function startRealAgent(group, env, tmp, hub) {
  const enrollToken = await hub.token("--kind", "enroll", "--name", "bench-real-agent");
  const res = await fetch(`http://127.0.0.1:${hub.port}/api/v1/enroll`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: enrollToken, hostname: "bench-real", labels: {} }),
  });
  const { agentId, agentKey } = await res.json();
  const state = join(tmp, "agent-state.json");
  writeFileSync(state, JSON.stringify({ hub: `http://127.0.0.1:${hub.port}`, agentId, agentKey, labels: {} }), { mode: 0o600 });
  const agent = group.spawnNode([AGENT_BIN, "run", "--state", state, "--log-level", "warn"], { env, name: "real agent" });
  const path = `/api/v1/agents/${agentId}/query`;
  for (let i = 0; i < 100; i++) {
    const r = await fetch(`http://127.0.0.1:${hub.port}${path}`, { method: "POST", headers: { ...hub.headers, "Content-Type": "application/json" }, body: QUERY_BODY });
    if (r.status === 200) return { name: "hub + real agent", agent, port: hub.port, path, headers: hub.headers };
    await new Promise((r2) => setTimeout(r2, 100));
  }
  throw new Error("the real agent never answered");
}

async function sequential(side, measureMs) {
  const f = await load({ port: side.port, path: side.path, body: QUERY_BODY, headers: side.headers, concurrency: 1, warmupMs: 1000, measureMs });
  return { p50: f.p50, p99: f.p99, mean: f.mean, count: f.count, errors: f.errors };
}

/** Runs the bench; resolves with its figures. */
export async function run() {
  const measureMs = (Number(process.env.BENCH_SECONDS) || 5) * 1000;
  const group = new ProcessGroup();
  try {
    const env = childEnv();
    const tmp = group.tempDir("uplink-bench-e2e-");
    const floor = await startFloor(group, env);
    const hub = await startHub(group, tmp);
    const real = await startRealAgent(group, env, tmp, hub);
    const figures = {
      bench: "end-to-end",
      floor: await sequential(floor, measureMs),
      hubStubAgent: await sequential(hub, measureMs),
      hubRealAgent: await sequential(real, measureMs),
    };
    figures.hubOverFloorP50Ms = round(figures.hubStubAgent.p50 - figures.floor.p50);
    figures.sqlEngineOverStubP50Ms = round(figures.hubRealAgent.p50 - figures.hubStubAgent.p50);
    return figures;
  } finally {
    await group.stop();
  }
}

const round = (x) => Math.round(x * 1000) / 1000;

export function formatTable(f) {
  const row = (name, v) => `${name.padEnd(18)} ${String(v.p50).padStart(8)} ${String(v.p99).padStart(8)} ${String(v.mean).padStart(8)} ${String(v.count).padStart(7)}`;
  return [
    "end-to-end: one caller, `select 1`",
    `${"".padEnd(18)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)} ${"mean".padStart(8)} ${"count".padStart(7)}`,
    row("floor", f.floor),
    row("hub + stub agent", f.hubStubAgent),
    row("hub + real agent", f.hubRealAgent),
    `hub adds ${f.hubOverFloorP50Ms} ms at p50 over the floor; the SQL engine adds ${f.sqlEngineOverStubP50Ms} ms over a stub agent`,
  ].join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const figures = await run();
  console.log(JSON.stringify(figures));
  console.log(formatTable(figures));
}
