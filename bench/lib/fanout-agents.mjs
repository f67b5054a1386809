#!/usr/bin/env node
// Many lightweight agents in one process, for the fan-out bench: one protocol-2 WebSocket per agent key,
// each answering every command at once (a query with a one-row result that echoes its correlationId, a
// health poll with an ok health result). Prints `{"ready": true, "connected": n}` on stdout once every
// socket got its `welcome`, then `{"closed": n}` lines as sockets drop; never reconnects.
//
//   node bench/lib/fanout-agents.mjs --url ws://127.0.0.1:PORT/v1/agent --keys FILE --from 0 --count 2500
//        [--local-address 127.0.0.2] [--concurrency 200]
//   FILE: a JSON array of agent keys (`<agentId>.<secret>`); this process takes [from, from+count).
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import WebSocket from "ws";

const { values: opts } = parseArgs({
  options: {
    url: { type: "string" },
    keys: { type: "string" },
    from: { type: "string", default: "0" },
    count: { type: "string" },
    "local-address": { type: "string" },
    concurrency: { type: "string", default: "200" },
  },
});
if (opts.url === undefined || opts.keys === undefined) {
  process.stderr.write("fanout-agents: --url and --keys are required\n");
  process.exit(2);
}

const all = JSON.parse(readFileSync(opts.keys, "utf8"));
const from = Number(opts.from);
const keys = all.slice(from, opts.count === undefined ? undefined : from + Number(opts.count));
const HEALTH = { status: "ok", agentVersion: "0.0.0-bench-fanout", uptimeS: 1, load1: 0, memFreeBytes: 1, memTotalBytes: 2, inflight: 0, collectors: [] };
const HELLO = JSON.stringify({ type: "hello", protocol: 2, agentVersion: "0.0.0-bench-fanout", hostname: "bench", platform: "linux", arch: "x64", labels: {}, capabilities: ["correlation-id"] });

let connected = 0;
let closed = 0;
let answered = 0;

/** Opens one agent's socket; resolves once its `welcome` arrived. */
function connect(key) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(opts.url, {
      headers: { "Uplink-Protocol": "2", Authorization: `Bearer ${key}` },
      perMessageDeflate: false,
      handshakeTimeout: 30_000,
      ...(opts["local-address"] ? { localAddress: opts["local-address"] } : {}),
    });
    let welcomed = false;
    ws.on("message", (data) => {
      const m = JSON.parse(data.toString());
      if (m.type === "session_command") {
        const result =
          m.kind === "health" ? HEALTH : { columns: ["agent", "correlationId"], rows: [[key.slice(0, key.indexOf(".")), m.correlationId]], rowCount: 1, truncated: false };
        ws.send(JSON.stringify({ type: "session_response", sessionId: m.sessionId, correlationId: m.correlationId, ok: true, result, durationMs: 0 }));
        answered++;
      } else if (m.type === "welcome" && !welcomed) {
        welcomed = true;
        ws.send(HELLO);
        connected++;
        resolve();
      }
    });
    ws.on("unexpected-response", (_req, res) => reject(new Error(`upgrade refused with HTTP ${res.statusCode}`)));
    ws.on("error", (err) => {
      if (!welcomed) reject(err);
    });
    ws.on("close", () => {
      if (!welcomed) return reject(new Error("closed before welcome"));
      closed++;
    });
  });
}

let next = 0;
async function worker() {
  while (next < keys.length) await connect(keys[next++]);
}

try {
  await Promise.all(Array.from({ length: Math.min(Number(opts.concurrency), keys.length) }, worker));
} catch (err) {
  process.stderr.write(`fanout-agents: ${err.message} (after ${connected} connected)\n`);
  process.exit(1);
}
process.stdout.write(`${JSON.stringify({ ready: true, connected })}\n`);
setInterval(() => {
  if (closed > 0) process.stdout.write(`${JSON.stringify({ closed, answered })}\n`);
}, 1000).unref();
process.on("SIGTERM", () => process.exit(0));
// Keeps running while any socket is open.
