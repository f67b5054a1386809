import { execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HealthResult, parseAgentToHub, type AgentToHub } from "@uplink/protocol";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocketServer, type WebSocket } from "ws";
import { createAgent, type Agent } from "./agent.js";
import { runAgent } from "./subcommands/run.js";
import { parseConfig } from "./config.js";
import { CredentialRejectedError } from "./errors.js";
import { writeStateFile } from "./state-file.js";
import { AGENT_VERSION } from "./version.js";

const silent = pino({ level: "silent" });

/** A hub endpoint that records every frame each agent sends, parsed with the hub's own parser. */
async function startHub(options: { reject?: number } = {}) {
  const received: AgentToHub[] = [];
  const sockets: WebSocket[] = [];
  const wss = new WebSocketServer({
    port: 0,
    host: "127.0.0.1",
    verifyClient: (_info, done) => (options.reject ? done(false, options.reject) : done(true)),
  });
  wss.on("connection", (ws) => {
    sockets.push(ws);
    ws.on("message", (data) => {
      const parsed = parseAgentToHub(String(data));
      if (parsed.ok) received.push(parsed.message);
    });
  });
  await new Promise((resolve) => wss.once("listening", resolve));
  const url = `http://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  const stop = () => new Promise<void>((resolve) => {
    for (const ws of sockets) ws.terminate();
    wss.close(() => resolve());
  });
  return { url, received, sockets, stop };
}

async function waitFor(predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function settings(hub: string) {
  return { ...parseConfig({ reconnectBaseMs: "10", reconnectCapMs: "50" }), hub, ca: undefined, agentKey: "agt_1.secret", hostname: "web-1", labels: { env: "test" } };
}

describe("createAgent", () => {
  it("says hello, applies welcome, and answers query and health over the hub socket", async () => {
    const hub = await startHub();
    cleanups.push(hub.stop);
    const agent: Agent = createAgent(settings(hub.url), { log: silent });
    cleanups.push(() => agent.close());
    const running = agent.start();
    await waitFor(() => hub.received.length === 1);
    expect(hub.received[0]).toMatchObject({ type: "hello", hostname: "web-1", labels: { env: "test" } });

    const ws = hub.sockets[0];
    ws?.send(JSON.stringify({ type: "welcome", protocol: 2, hubId: "hub-1", agentId: "agt_1", healthIntervalMs: 15_000, maxInflight: 7 }));
    await waitFor(() => agent.maxInflight === 7);
    ws?.send(JSON.stringify({ type: "session_command", sessionId: "s1", correlationId: "c-q", query: "SELECT 1;" }));
    ws?.send(JSON.stringify({ type: "session_command", sessionId: "uplink-health", correlationId: "c-h", kind: "health" }));
    ws?.send("garbage");
    await waitFor(() => hub.received.length === 3);

    const byId = new Map(hub.received.flatMap((f) => (f.type === "session_response" ? [[f.correlationId, f]] : [])));
    expect(byId.get("c-q")).toMatchObject({ sessionId: "s1", ok: true, result: { columns: ["1"], rows: [[1]] } });
    expect(HealthResult.parse(byId.get("c-h")?.result)).toMatchObject({ collectors: ["host"], agentVersion: AGENT_VERSION });

    await agent.close();
    await expect(running).resolves.toBeUndefined();
    expect(agent.connectionState).toBe("stopped");
  });

  it.runIf(process.platform === "linux")("runs as many queries at once as the welcome allows, up to --max-workers, and answers busy beyond", async () => {
    const hub = await startHub();
    cleanups.push(hub.stop);
    const agent = createAgent({ ...settings(hub.url), maxWorkers: 5 }, { log: silent });
    cleanups.push(() => agent.close());
    void agent.start();
    await waitFor(() => hub.received.length === 1);
    const ws = hub.sockets[0];
    ws?.send(JSON.stringify({ type: "welcome", protocol: 2, hubId: "hub-1", agentId: "agt_1", healthIntervalMs: 15_000, maxInflight: 9 }));
    await waitFor(() => agent.maxInflight === 5);
    const runaway = "with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c";
    for (let n = 1; n <= 6; n++) {
      ws?.send(JSON.stringify({ type: "session_command", sessionId: "s", correlationId: `c-${n}`, query: runaway, timeoutMs: 60_000 }));
    }
    // The sixth is refused at once; the five others each run in a worker of their own, none waiting for one.
    await waitFor(() => hub.received.some((f) => f.type === "session_response" && f.correlationId === "c-6"));
    expect(hub.received.find((f) => f.type === "session_response" && f.correlationId === "c-6")).toMatchObject({ ok: false, code: "busy" });
    const workers = () =>
      execFileSync("ps", ["-o", "args=", "--ppid", String(process.pid)], { encoding: "utf8" })
        .split("\n")
        .filter((l) => l.includes("query-worker.js")).length;
    await waitFor(() => workers() === 5, 10_000);
    for (let n = 1; n <= 5; n++) ws?.send(JSON.stringify({ type: "cancel", correlationId: `c-${n}` }));
    await waitFor(() => hub.received.filter((f) => f.type === "session_response" && f.code === "cancelled").length === 5);
  });
});

describe("runAgent", () => {
  async function stateFile(hub: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), "uplink-run-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, "state.json");
    await writeStateFile(path, { hub, agentId: "agt_1", agentKey: "agt_1.secret", labels: {} });
    return path;
  }

  it("runs until the shutdown signal, then closes cleanly", async () => {
    const hub = await startHub();
    cleanups.push(hub.stop);
    const shutdown = new AbortController();
    const config = parseConfig({ state: await stateFile(hub.url), reconnectBaseMs: "10", reconnectCapMs: "50" });
    const running = runAgent(config, { log: silent, shutdown: shutdown.signal });
    await waitFor(() => hub.received.length === 1);
    shutdown.abort("SIGTERM");
    await expect(running).resolves.toBeUndefined();
    await waitFor(() => hub.sockets[0]?.readyState === 3);
  });

  it("lets --hub override the state file's hub", async () => {
    const hub = await startHub();
    cleanups.push(hub.stop);
    const shutdown = new AbortController();
    const config = parseConfig({ state: await stateFile("http://127.0.0.1:1"), hub: hub.url });
    const running = runAgent(config, { log: silent, shutdown: shutdown.signal });
    await waitFor(() => hub.received.length === 1);
    shutdown.abort("SIGINT");
    await running;
  });

  it("stops with CredentialRejectedError when the hub refuses the key", async () => {
    const hub = await startHub({ reject: 403 });
    cleanups.push(hub.stop);
    const config = parseConfig({ state: await stateFile(hub.url) });
    const err = await runAgent(config, { log: silent, shutdown: new AbortController().signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CredentialRejectedError);
    expect(err).toMatchObject({ status: 403, message: "this agent was revoked (403)" });
  });
});
