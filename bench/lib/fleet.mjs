// A hub with a fleet of lightweight agents, for the scale and restart-storm benches: the hub in its own
// process (open-files limit raised as far as the system lets), agents enrolled through the REST API, and
// `bench/lib/swarm.mjs` children holding their sockets from several 127.0.0.x source addresses.
import { execFile, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { WATCHDOG, waitForLogLine } from "./procs.mjs";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** The hub under test: this checkout's, or another build's `uplink-hub.js` named by BENCH_HUB_BIN. */
export const HUB_BIN = process.env.BENCH_HUB_BIN ? resolve(process.env.BENCH_HUB_BIN) : join(ROOT, "packages/hub/bin/uplink-hub.js");
const SWARM = join(ROOT, "bench/lib/swarm.mjs");
const STUB = join(ROOT, "bench/stub-agent.mjs");

/** The bench children's environment: ours without any Uplink setting. */
/** A positive number from the environment (a bench's size), else `fallback`. */
export const num = (name, fallback) => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
};

export function childEnv() {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("UPLINK_") || k === "WS_MAX_CLIENTS" || k === "NODE_OPTIONS") delete env[k];
  return env;
}

/**
 * Spawns `node ...args` through bash after `ulimit -n <wanted>` (falling back to the hard limit when the
 * system refuses more, e.g. a container without CAP_SYS_RESOURCE). bash execs node, so the child's pid is
 * node's. Tracked by `group` like its own children (stopped and killed with them).
 */
export function spawnWithFds(group, args, { wanted = 200_000, stdin = "ignore", stdout = "pipe", stderr = "pipe", env = childEnv(), name = args[0] } = {}) {
  const script = `ulimit -n ${wanted} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"`;
  const child = spawn("bash", ["-c", script, process.execPath, "--import", WATCHDOG, ...args], { stdio: [stdin, stdout, stderr], env });
  return group.adopt(child, name);
}

/** The open-files limit a process actually runs with (soft), from /proc. */
export function fdLimitOf(pid) {
  const line = readFileSync(`/proc/${pid}/limits`, "utf8").split("\n").find((l) => l.startsWith("Max open files"));
  return Number(line?.split(/\s+/)[3]);
}

/** Resident memory of a process in KiB. */
export function rssKiB(pid) {
  return Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]);
}

/** The hub's hard open-files limit as this shell sees it: the ceiling of agents one hub process can hold. */
async function hardFdLimit() {
  const { stdout } = await promisify(execFile)("bash", ["-c", "ulimit -Hn"]);
  const v = stdout.trim();
  return v === "unlimited" ? Infinity : Number(v);
}

/** Descriptors a hub needs besides its agents' sockets (store, logs, listeners, REST clients). */
const HUB_FD_RESERVE = 150;

/**
 * How many of the `wanted` agents one hub process can hold: its hard open-files limit less what it needs
 * besides them (the limit, `hard`, named in the figures when it cut the fleet, and said through `progress`).
 */
export async function fleetSize(wanted, progress) {
  const hard = await hardFdLimit();
  const agents = Math.min(wanted, hard - HUB_FD_RESERVE);
  if (agents < wanted) progress(`open-files hard limit is ${hard}: running ${agents} agents instead of ${wanted}`);
  return { agents, hard };
}

/** `node` flags that profile a hub child into the directory BENCH_CPU_PROF names, when it is set. */
export function cpuProfileArgs() {
  const dir = process.env.BENCH_CPU_PROF;
  return dir ? ["--cpu-prof", `--cpu-prof-dir=${resolve(dir)}`] : [];
}

/** Creates a token straight in the data dir (`uplink-hub token create --json`). */
export async function tokenOnDisk(dataDir, ...args) {
  const { stdout } = await promisify(execFile)(process.execPath, [HUB_BIN, "token", "create", ...args, "--data-dir", dataDir, "--json"], { env: childEnv(), timeout: 30_000 });
  return JSON.parse(stdout).token;
}

/**
 * Starts `uplink-hub serve` on 127.0.0.1 (port 0 unless given) with its log at info in `<dataDir>/hub.log`,
 * enrollment unthrottled, and `extra` flags (`nodeArgs` go to node, e.g. `--cpu-prof`). Resolves with
 * {child, port, metricsPort, logFile} once it listens (its metrics listener on a free loopback port).
 */
export async function startHub(group, dataDir, { port = 0, extra = [], nodeArgs = [], logName = "hub.log", name = "hub" } = {}) {
  const logFile = join(dataDir, logName);
  const fd = openSync(logFile, "a");
  const child = spawnWithFds(group, [...nodeArgs, HUB_BIN, "serve", "--port", String(port), "--host", "127.0.0.1", "--data-dir", dataDir, "--log-level", "info", "--enroll-rate", "100000000", "--metrics-port", "0", ...extra], { stdout: fd, name });
  closeSync(fd);
  const since = Date.now();
  const line = await waitForLogLine(logFile, child, (v) => v.msg === "hub listening" && Date.parse(v.time) >= since - 1000, 30_000);
  return { child, port: line.port, metricsPort: line.metricsPort, logFile };
}

/** A small keep-alive JSON client against 127.0.0.1:port. */
export function client(port, token) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const call = (method, path, body) =>
    new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = http.request({ host: "127.0.0.1", port, method, path, agent, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(data ? { "content-type": "application/json", "content-length": Buffer.byteLength(data) } : {}) } }, (res) => {
        let text = "";
        res.setEncoding("utf8").on("data", (c) => (text += c));
        res.on("end", () => {
          let parsed;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = text;
          }
          resolve({ status: res.statusCode, body: parsed });
        });
      });
      req.setTimeout(60_000, () => req.destroy(new Error("timed out")));
      req.on("error", reject);
      req.end(data);
    });
  return { call, close: () => agent.destroy() };
}

/** The sum of a Prometheus metric's samples from the hub's /metrics, on its metrics listener's port. */
export async function metric(metricsPort, name) {
  const c = client(metricsPort);
  try {
    const { body } = await c.call("GET", "/metrics");
    let sum = 0;
    for (const line of String(body).split("\n")) {
      const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
      if (m && m[1] === name) sum += Number(m[3]);
    }
    return sum;
  } finally {
    c.close();
  }
}

/** Enrolls `n` agents with one enrollment token, `concurrency` requests at a time; resolves with their keys. */
export async function enrollAgents(port, enrollToken, n, { concurrency = 64, progress = () => {} } = {}) {
  const c = client(port);
  const keys = new Array(n);
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        const res = await c.call("POST", "/api/v1/enroll", { token: enrollToken, hostname: `fleet-${i}` });
        if (res.status !== 201) throw new Error(`enroll ${i}: HTTP ${res.status} ${JSON.stringify(res.body)}`);
        keys[i] = res.body.agentKey;
        if (++done % 5000 === 0) progress(`enrolled ${done}/${n}`);
      }
    }),
  );
  c.close();
  return keys;
}

/**
 * Starts `processes` swarm children over `keys`, child p binding source address 127.0.0.(p % addresses + 1).
 * Each child's latest report is kept in `swarm.report`; `send(cmd)` writes a stdin command.
 */
export function startSwarms(group, dir, { url, keys, processes = 8, addresses = 8, ...opts }) {
  const per = Math.ceil(keys.length / processes);
  const swarms = [];
  for (let p = 0; p < processes; p++) {
    const file = join(dir, `swarm-${p}.json`);
    writeFileSync(file, JSON.stringify({ url, keys: keys.slice(p * per, (p + 1) * per), localAddresses: [`127.0.0.${(p % addresses) + 1}`], reportMs: 500, ...opts }));
    // stdin stays open: a swarm exits when it closes (its parent is gone).
    const child = spawnWithFds(group, [SWARM, file], { stdin: "pipe", name: `swarm ${p}` });
    const swarm = { child, report: undefined, send: (cmd) => child.stdin?.write(`${JSON.stringify(cmd)}\n`) };
    createInterface({ input: child.stdout }).on("line", (line) => {
      try {
        const v = JSON.parse(line);
        if (v.type === "report") swarm.report = v;
      } catch {}
    });
    swarms.push(swarm);
  }
  return swarms;
}

/** Sums the swarms' latest reports. */
export function swarmTotals(swarms) {
  const t = { connected: 0, everConnected: 0, attempts: 0, refused: {}, errors: {}, closeCodes: {}, stopped: 0, retryAfterViolations: 0, answered: 0, maxAttempt: 0 };
  for (const r of swarms.map((s) => s.report).filter(Boolean)) {
    for (const k of ["connected", "everConnected", "attempts", "stopped", "retryAfterViolations", "answered"]) t[k] += r[k];
    t.maxAttempt = Math.max(t.maxAttempt, r.maxAttempt);
    for (const [k, v] of Object.entries(r.refused)) t.refused[k] = (t.refused[k] ?? 0) + v;
    for (const [k, v] of Object.entries(r.errors)) t.errors[k] = (t.errors[k] ?? 0) + v;
    for (const [k, v] of Object.entries(r.closeCodes ?? {})) t.closeCodes[k] = (t.closeCodes[k] ?? 0) + v;
  }
  return t;
}

/** Starts the bench stub agent (answers every command at once) on one enrolled key; resolves once welcomed. */
export async function startStubAgent(group, port, agentKey) {
  const child = group.spawnNode([STUB, "--url", `ws://127.0.0.1:${port}/v1/agent`, "--key", agentKey], { env: childEnv(), name: "stub agent" });
  await new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    const timer = setTimeout(() => reject(new Error(`stub agent not ready\n${child.stderrTail}`)), 30_000);
    lines.on("line", (line) => {
      if (line.includes('"ready":true')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return child;
}

/** Polls `probe` every `everyMs` until it returns a truthy value or `timeoutMs` passes (then throws `what`). */
export async function until(what, probe, { timeoutMs = 120_000, everyMs = 250 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
