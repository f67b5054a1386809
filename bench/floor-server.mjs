#!/usr/bin/env node
// The bare floor of the round-trip bench (DESIGN §9): plain node:http + ws + a Map of waiters keyed by a
// random id. `POST /api/v1/agents/:id/query` reads the JSON body, sends a `session_command` with a fresh
// correlationId to the one connected agent, and answers 200 with the agent's result when it replies.
// No auth, no validation, no store, no logging, no deadlines. Prints `{"port": N}` on stdout.
//
// The schedules bench's floor: agents that connect with credentials (any) form a fleet, the one without is
// the query agent. `POST /floor/fleet {"rate": N}` sends N query commands a second to the fleet, round-robin,
// spread over 10 ms ticks, each with its correlationId, the replies matched and dropped: the traffic of
// scheduled runs with none of their work. The answer is `{"fleet": agents in it}`.
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
/** Agents connected with credentials, and the scheduled traffic sent to them. */
const fleet = [];
let fleetNext = 0;
let fleetTimer = null;
const FLEET_TICK_MS = 10;
const FLEET_RESULT = () => undefined;

function sendToFleet(rate) {
  clearInterval(fleetTimer);
  fleetTimer = null;
  if (!(rate > 0)) return;
  let owed = 0;
  fleetTimer = setInterval(() => {
    owed += (rate * FLEET_TICK_MS) / 1000;
    for (; owed >= 1 && fleet.length > 0; owed--) {
      const ws = fleet[fleetNext++ % fleet.length];
      const correlationId = randomUUID();
      waiters.set(correlationId, FLEET_RESULT);
      ws.send(JSON.stringify({ type: "session_command", sessionId: "schedule", correlationId, kind: "query", collector: "host", query: "select 1 as n", timeoutMs: 30000 }));
    }
  }, FLEET_TICK_MS);
}

function reply(res, status, body, headers = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

const server = createServer((req, res) => {
  if (req.method === "POST" && req.url === "/floor/fleet") {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      sendToFleet(Number(JSON.parse(Buffer.concat(chunks).toString("utf8")).rate));
      reply(res, 200, { fleet: fleet.length });
    });
    return;
  }
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
  const inFleet = req.headers.authorization !== undefined;
  wss.handleUpgrade(req, socket, head, (ws) => {
    if (inFleet) fleet.push(ws);
    else {
      agent?.close(4409, "replaced");
      agent = ws;
    }
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
      if (inFleet) fleet.splice(fleet.indexOf(ws), 1);
    });
    ws.send(JSON.stringify({ type: "welcome", protocol: 2, hubId: "floor", agentId: "floor-agent", healthIntervalMs: 15000, maxInflight: 1024 }));
  });
});

server.listen(Number(opts.port), opts.host, () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});
process.on("SIGTERM", () => process.exit(0));
