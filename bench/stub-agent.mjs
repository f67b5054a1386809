#!/usr/bin/env node
// A minimal agent for the benches: connects once, answers every command at once (a query with a
// one-cell result, a health poll with an ok health result), echoes correlationId, never reconnects.
// Prints `{"ready": true, ...}` on stdout once the `welcome` arrived; exits when the socket closes.
//
//   node bench/stub-agent.mjs --url ws://127.0.0.1:PORT/v1/agent [--key <agentId>.<secret>]
//   (without --key it connects without credentials: the floor server takes anyone)
import { arch, freemem, hostname, loadavg, platform, totalmem } from "node:os";
import { parseArgs } from "node:util";
import WebSocket from "ws";

const { values: opts } = parseArgs({ options: { url: { type: "string" }, key: { type: "string" } } });
if (opts.url === undefined) {
  process.stderr.write("stub-agent: --url is required\n");
  process.exit(2);
}

const AGENT_VERSION = "0.0.0-bench-stub";
const QUERY_RESULT = { columns: ["1"], rows: [[1]], rowCount: 1, truncated: false };
const headers = { "Uplink-Protocol": "2" };
if (opts.key !== undefined) headers.Authorization = `Bearer ${opts.key}`;

const ws = new WebSocket(opts.url, { headers, perMessageDeflate: false });
let ready = false;
let answered = 0;

function health() {
  return { status: "ok", agentVersion: AGENT_VERSION, uptimeS: process.uptime(), load1: loadavg()[0], memFreeBytes: freemem(), memTotalBytes: totalmem(), inflight: 0, collectors: [] };
}

ws.on("message", (data) => {
  const message = JSON.parse(data.toString());
  if (message.type === "session_command") {
    const result = message.kind === "health" ? health() : QUERY_RESULT;
    // JSON.stringify drops an undefined correlationId: a command without one gets a response without one.
    ws.send(JSON.stringify({ type: "session_response", sessionId: message.sessionId ?? message.session_id, correlationId: message.correlationId, ok: true, result, durationMs: 0 }));
    answered++;
  } else if (message.type === "welcome" && !ready) {
    ready = true;
    ws.send(JSON.stringify({ type: "hello", protocol: 2, agentVersion: AGENT_VERSION, hostname: hostname(), platform: platform(), arch: arch(), labels: {}, capabilities: ["correlation-id"] }));
    process.stdout.write(`${JSON.stringify({ ready: true, agentId: message.agentId })}\n`);
  }
  // `cancel`: nothing to cancel, every command is answered at once.
});
ws.on("unexpected-response", (_req, res) => {
  process.stderr.write(`stub-agent: upgrade refused with HTTP ${res.statusCode}\n`);
  process.exit(1);
});
ws.on("error", (err) => {
  process.stderr.write(`stub-agent: ${err.message}\n`);
  process.exit(1);
});
ws.on("close", (code) => {
  process.stderr.write(`stub-agent: closed ${code} after ${answered} commands\n`);
  process.exit(0);
});
process.on("SIGTERM", () => process.exit(0));
