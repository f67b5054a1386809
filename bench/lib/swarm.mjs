#!/usr/bin/env node
// A swarm of lightweight agents in one process, for the scale and restart-storm benches and the restart-storm
// test: one bare `ws` socket per agent key, answering every health poll and query at once (protocol 2,
// correlationId echoed). Each agent reconnects like the real one (DESIGN §2 rule 12): exponential backoff
// with full jitter (`baseMs`, `capMs`), reset after `stableMs` of stable connection, a 503's Retry-After as
// the minimum wait, and 401/403 stop that agent for good. A close with 1001 or 1012 (the hub restarts) resets
// the backoff, and for `restartWindowMs` after it the backoff grows to `restartCapMs` at most and a 503 counts
// no attempt (packages/agent/src/hub-client.ts; RECONNECT_RESTART_* in packages/protocol/src/constants.ts).
//
//   node bench/lib/swarm.mjs <config.json>
//   config: {url, keys: ["<agentId>.<secret>", ...], localAddresses?: ["127.0.0.2", ...], baseMs?: 1000,
//            capMs?: 60000, stableMs?: 30000, restartCapMs?: 8000, restartWindowMs?: 60000, rampConcurrency?: 200,
//            reportMs?: 250}
//
// stdout: one JSON line per `reportMs` (and on demand): {type: "report", connected, everConnected, attempts,
// refused: {status: n}, errors: {code: n}, closeCodes: {code: n}, stopped, retryAfterViolations, answered,
// queriesBySecond: {epochSecond: query commands received in it}, maxAttempt, stableResets, restartWaits,
// firstRetryMs: [100-ms bucket counts of the first wait after a drop], firstRetryMaxMs, lastOpenAt, ...}.
// stdin: JSON lines {"cmd": "report"} · {"cmd": "drop", "n": N} (close N connected agents for good) ·
// {"cmd": "stop"} (close everything and exit). Exits when stdin closes or on SIGTERM.
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import WebSocket from "ws";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const baseMs = config.baseMs ?? 1000;
const capMs = config.capMs ?? 60_000;
const stableMs = config.stableMs ?? 30_000;
const restartCapMs = config.restartCapMs ?? 8_000;
const restartWindowMs = config.restartWindowMs ?? 60_000;
/** Close codes that announce a hub restart: 1001 going away (the hub shuts down), 1012 service restart (from a proxy). */
const RESTART_CODES = new Set([1012, 1001]);
const addresses = config.localAddresses ?? [];
const HELLO = JSON.stringify({ type: "hello", protocol: 2, agentVersion: "swarm/1.0", hostname: "swarm", platform: "linux", arch: "x64", labels: {}, capabilities: ["correlation-id"] });
const QUERY_RESULT = { columns: ["1"], rows: [[1]], rowCount: 1, truncated: false };
const HEALTH_RESULT = { status: "ok", agentVersion: "swarm/1.0", uptimeS: 1, load1: 0, memFreeBytes: 1, memTotalBytes: 2, inflight: 0, collectors: ["host"] };

const stats = {
  connected: 0,
  everConnected: 0,
  attempts: 0,
  refused: {},
  errors: {},
  /** Close codes of connections that had opened (1001: the hub shut down; 1012: a proxy restarted; 1006: cut without a close frame). */
  closeCodes: {},
  stopped: 0,
  retryAfterViolations: 0,
  answered: 0,
  /** Query commands (not health polls) received, by wall-clock second (epoch s → count). */
  queriesBySecond: {},
  maxAttempt: 0,
  stableResets: 0,
  /** Waits drawn from the restart schedule (after a 1001 or 1012 close). */
  restartWaits: 0,
  firstRetryMs: new Array(Math.ceil(capMs / 100)).fill(0),
  firstRetryMaxMs: 0,
  lastOpenAt: 0,
  lastCloseAt: 0,
};
const count = (bucket, key) => (bucket[key] = (bucket[key] ?? 0) + 1);

class SwarmAgent {
  constructor(key, localAddress) {
    this.key = key;
    this.localAddress = localAddress;
    this.attempt = 0;
    this.ws = undefined;
    this.openedAt = undefined;
    this.notBefore = 0;
    /** Until when (epoch ms) waits follow the restart schedule. */
    this.restartUntil = 0;
    this.done = false;
    this.timer = undefined;
    this.everOpen = false;
  }

  connect() {
    this.timer = undefined;
    if (this.done) return;
    stats.attempts++;
    if (Date.now() < this.notBefore) stats.retryAfterViolations++;
    let refusal;
    const ws = new WebSocket(config.url, {
      headers: { authorization: `Bearer ${this.key}`, "uplink-protocol": "2" },
      perMessageDeflate: false,
      handshakeTimeout: 15_000,
      ...(this.localAddress ? { localAddress: this.localAddress } : {}),
    });
    this.ws = ws;
    ws.on("open", () => {
      this.openedAt = Date.now();
      this.restartUntil = 0;
      stats.lastOpenAt = this.openedAt;
      stats.connected++;
      if (!this.everOpen) {
        this.everOpen = true;
        stats.everConnected++;
      }
      ws.send(HELLO);
    });
    ws.on("message", (data) => {
      let frame;
      try {
        frame = JSON.parse(data.toString());
      } catch {
        return;
      }
      if (frame.type !== "session_command") return;
      const health = frame.kind === "health";
      if (!health) count(stats.queriesBySecond, Math.floor(Date.now() / 1000));
      ws.send(JSON.stringify({ type: "session_response", sessionId: frame.sessionId, correlationId: frame.correlationId, ok: true, result: health ? HEALTH_RESULT : QUERY_RESULT, durationMs: 0 }));
      stats.answered++;
    });
    ws.on("unexpected-response", (_req, res) => {
      const status = res.statusCode ?? 0;
      count(stats.refused, status);
      const retryAfter = Number(res.headers["retry-after"]);
      refusal = { status, retryAfterMs: Number.isFinite(retryAfter) ? retryAfter * 1000 : 0 };
      res.resume();
      ws.terminate();
    });
    ws.on("error", (err) => count(stats.errors, err.code ?? err.message.slice(0, 40)));
    ws.on("close", (code) => {
      if (this.openedAt !== undefined) count(stats.closeCodes, code);
      this.#closed(refusal, code);
    });
  }

  #closed(refusal, code) {
    this.ws = undefined;
    const wasOpen = this.openedAt !== undefined;
    if (wasOpen) {
      stats.connected--;
      stats.lastCloseAt = Date.now();
      if (Date.now() - this.openedAt >= stableMs) {
        if (this.attempt > 0) stats.stableResets++;
        this.attempt = 0;
      }
      if (RESTART_CODES.has(code)) {
        this.attempt = 0;
        this.restartUntil = Date.now() + restartWindowMs;
      }
    }
    this.openedAt = undefined;
    if (this.done) return;
    if (refusal && (refusal.status === 401 || refusal.status === 403)) {
      this.done = true;
      stats.stopped++;
      return;
    }
    // Full jitter: uniform in [0, min(cap, base * 2^attempt)). While the hub restarts the cap is restartCapMs,
    // and a 503 (the new hub pacing) waits at attempt 0's ceiling (its Retry-After wins) without counting.
    const restarting = Date.now() < this.restartUntil;
    const paced = restarting && refusal?.status === 503;
    const cap = restarting ? Math.min(capMs, restartCapMs) : capMs;
    const jittered = Math.floor(Math.random() * Math.min(cap, baseMs * 2 ** (paced ? 0 : this.attempt)));
    if (restarting) stats.restartWaits++;
    if (!paced) {
      this.attempt++;
      stats.maxAttempt = Math.max(stats.maxAttempt, this.attempt);
    }
    const retryAfterMs = refusal?.retryAfterMs ?? 0;
    const delay = Math.max(jittered, retryAfterMs);
    this.notBefore = Date.now() + retryAfterMs;
    if (wasOpen) {
      stats.firstRetryMs[Math.min(stats.firstRetryMs.length - 1, Math.floor(delay / 100))]++;
      stats.firstRetryMaxMs = Math.max(stats.firstRetryMaxMs, delay);
    }
    this.timer = setTimeout(() => this.connect(), delay);
  }

  stop() {
    this.done = true;
    clearTimeout(this.timer);
    this.ws?.terminate();
  }
}

const agents = config.keys.map((key, i) => new SwarmAgent(key, addresses.length > 0 ? addresses[i % addresses.length] : undefined));

function report() {
  process.stdout.write(`${JSON.stringify({ type: "report", pid: process.pid, agents: agents.length, at: Date.now(), ...stats })}\n`);
}
const reporter = setInterval(report, config.reportMs ?? 250);

function shutdown(code = 0) {
  clearInterval(reporter);
  for (const a of agents) a.stop();
  report();
  setTimeout(() => process.exit(code), 50);
}

createInterface({ input: process.stdin })
  .on("line", (line) => {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      return;
    }
    if (msg.cmd === "report") report();
    else if (msg.cmd === "stop") shutdown();
    else if (msg.cmd === "drop") {
      let n = msg.n ?? 1;
      for (const a of agents) {
        if (n === 0) break;
        if (a.openedAt !== undefined && !a.done) {
          a.stop();
          n--;
        }
      }
      report();
    }
  })
  .on("close", () => shutdown());
process.on("SIGTERM", () => shutdown());

// The initial ramp: at most `rampConcurrency` handshakes at once, then the backoff takes over.
const ramp = config.rampConcurrency ?? 200;
let next = 0;
function rampOne() {
  if (next >= agents.length) return;
  const agent = agents[next++];
  agent.connect();
  let settled = false;
  const onSettled = () => {
    if (settled) return;
    settled = true;
    setImmediate(rampOne);
  };
  agent.ws.once("open", onSettled);
  agent.ws.once("close", onSettled);
}
for (let i = 0; i < Math.min(ramp, agents.length); i++) rampOne();
