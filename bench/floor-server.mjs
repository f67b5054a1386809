#!/usr/bin/env node
// The bare floor of the round-trip bench (DESIGN §9): plain node:http + ws + a Map of waiters keyed by a
// random id. `POST /api/v1/agents/:id/query` reads the JSON body, sends a `session_command` with a fresh
// correlationId to the one connected agent, and answers 200 with the agent's result when it replies.
// No auth, no validation, no store, no logging, no deadlines. Prints `{"port": N}` on stdout.
//
//   node bench/floor-server.mjs [--port 0] [--host 127.0.0.1]
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { WebSocketServer } from "ws";

const { values: opts } = parseArgs({ options: { port: { type: "string", default: "0" }, host: { type: "string", default: "127.0.0.1" } } });

const QUERY_PATH = /^\/api\/v1\/agents\/([^/?]+)\/query$/;
/** correlationId → function(reply) of the caller waiting for it. */
const waiters = new Map();
/** The one connected agent. */
let agent = null;

function reply(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

const server = createServer((req, res) => {
  const match = req.method === "POST" ? QUERY_PATH.exec(req.url) : null;
  if (match === null) return reply(res, 404, { error: { code: "not_found", message: "no route" } });
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      return reply(res, 400, { error: { code: "invalid_request", message: "body is not JSON" } });
    }
    if (agent === null) return reply(res, 409, { error: { code: "agent_offline", message: "no agent connected" } });
    const correlationId = randomUUID();
    const headers = { "X-Correlation-Id": correlationId };
    const t0 = performance.now();
    waiters.set(correlationId, (response) => {
      if (response.ok) reply(res, 200, { correlationId, agentId: match[1], result: response.result, durationMs: performance.now() - t0 }, headers);
      else reply(res, 502, { error: { code: response.code ?? "internal", message: response.error ?? "" } }, headers);
    });
    agent.send(JSON.stringify({ type: "session_command", sessionId: "floor", correlationId, kind: "query", collector: body.collector ?? "host", query: body.query, timeoutMs: 30000 }));
  });
});

const wss = new WebSocketServer({ noServer: true, clientTracking: false });
server.on("upgrade", (req, socket, head) => {
  if (req.url !== "/v1/agent") return socket.destroy();
  wss.handleUpgrade(req, socket, head, (ws) => {
    agent?.close(4409, "replaced");
    agent = ws;
    ws.on("message", (data) => {
      const message = JSON.parse(data.toString());
      if (message.type !== "session_response") return;
      const waiter = waiters.get(message.correlationId);
      if (waiter === undefined) return;
      waiters.delete(message.correlationId);
      waiter(message);
    });
    ws.on("close", () => {
      if (agent === ws) agent = null;
    });
    ws.send(JSON.stringify({ type: "welcome", protocol: 2, hubId: "floor", agentId: "floor-agent", healthIntervalMs: 15000, maxInflight: 1024 }));
  });
});

server.listen(Number(opts.port), opts.host, () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
process.on("SIGTERM", () => process.exit(0));
