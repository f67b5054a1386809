import { stat } from "node:fs/promises";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { WebSocketServer, type WebSocket } from "ws";
import { agentBuilt, useAgentProcesses } from "./fixtures/agent-process.js";
import { waitFor } from "./fixtures/wait.js";

/**
 * A stand-in for a hub from before correlationIds: it enrolls anyone, accepts the upgrade, sends no
 * `welcome`, and writes `session_command` frames by hand. It records every frame the agent sends.
 */
class OlderHub {
  readonly server: Server;
  readonly wss = new WebSocketServer({ noServer: true });
  readonly received: Record<string, unknown>[] = [];
  upgradeHeaders: IncomingHttpHeaders | undefined;
  socket: WebSocket | undefined;
  url = "";

  constructor() {
    this.server = createServer((req, res) => {
      if (req.method === "POST" && req.url === "/api/v1/enroll") {
        req.resume();
        req.on("end", () => {
          res.writeHead(201, { "content-type": "application/json" });
          res.end(JSON.stringify({ agentId: "agt_older", agentKey: "agt_older.s3cret" }));
        });
        return;
      }
      res.writeHead(404).end();
    });
    this.server.on("upgrade", (req, socket, head) => {
      this.upgradeHeaders = req.headers;
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        this.socket = ws;
        ws.on("message", (data) => this.received.push(JSON.parse(data.toString()) as Record<string, unknown>));
      });
    });
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  send(frame: Record<string, unknown>): void {
    this.socket!.send(JSON.stringify(frame));
  }

  /** The agent's reply naming `sessionId`. */
  replyTo(sessionId: string): Promise<Record<string, unknown>> {
    return waitFor(`the agent's reply on ${sessionId}`, () => this.received.find((f) => f.type === "session_response" && f.sessionId === sessionId), { timeoutMs: 5_000, intervalMs: 20 });
  }

  async close(): Promise<void> {
    for (const client of this.wss.clients) client.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

describe("The real agent against an older hub", () => {
  let older: OlderHub | undefined;
  // Registered before useAgentProcesses, so it runs after the agents are stopped (after-hooks run as a stack).
  afterEach(async () => {
    await older?.close();
    older = undefined;
  });
  const agents = useAgentProcesses();

  beforeAll(() => {
    if (!agentBuilt()) throw new Error("packages/agent is not built: run `pnpm build`");
  });

  it("answers a command without correlationId with no correlationId key at all, and echoes one verbatim when given", async () => {
    older = await new OlderHub().listen();
    const state = await agents.statePath();
    const enrolled = await agents.enroll({ hub: older.url, token: "tok_any.secret", state });
    expect(enrolled.code).toBe(0);
    expect(enrolled.stdout.trim()).toBe("agt_older");
    expect((await stat(state)).mode & 0o777).toBe(0o600);

    const agent = agents.run({ state });
    await waitFor("the agent's hello", () => older!.received.find((f) => f.type === "hello"));
    expect(older.upgradeHeaders).toMatchObject({ authorization: "Bearer agt_older.s3cret", "uplink-protocol": "2" });
    expect(older.received[0]).toMatchObject({ type: "hello", protocol: 2, capabilities: expect.arrayContaining(["correlation-id"]) });

    // Legacy spelling, no correlationId.
    older.send({ type: "session_command", session_id: "s1", query: "select 1" });
    const legacy = await older.replyTo("s1");
    expect(legacy).toMatchObject({ type: "session_response", sessionId: "s1", ok: true, result: { columns: ["1"], rows: [[1]], rowCount: 1, truncated: false } });
    expect(Object.keys(legacy)).not.toContain("correlationId");

    // An error reply to a command without correlationId has none either.
    older.send({ type: "session_command", session_id: "s2", query: "select * from no_such_table_anywhere" });
    const legacyError = await older.replyTo("s2");
    expect(legacyError).toMatchObject({ type: "session_response", sessionId: "s2", ok: false, code: expect.any(String), error: expect.any(String) });
    expect(Object.keys(legacyError)).not.toContain("correlationId");

    // With a correlationId (any opaque string), it is echoed verbatim, success or error.
    const odd = 'c0rr-Ω-"quoted"-\\-🙂-' + "x".repeat(200);
    older.send({ type: "session_command", sessionId: "s3", correlationId: odd, query: "select 1" });
    expect(await older.replyTo("s3")).toMatchObject({ sessionId: "s3", correlationId: odd, ok: true });
    older.send({ type: "session_command", session_id: "s4", correlationId: "err-1", query: "select * from no_such_table_anywhere" });
    expect(await older.replyTo("s4")).toMatchObject({ sessionId: "s4", correlationId: "err-1", ok: false });

    // A malformed command that names itself is answered bad_command, still with its correlationId.
    older.send({ type: "session_command", sessionId: "s5", correlationId: "bad-1", kind: "sing-a-song", query: "select 1" });
    expect(await older.replyTo("s5")).toMatchObject({ sessionId: "s5", correlationId: "bad-1", ok: false, code: "bad_command" });

    // Nothing the agent sent ever carried a correlationId it made up.
    const echoed = older.received.filter((f) => f.type === "session_response").map((f) => f.correlationId);
    expect(echoed.filter((c) => c !== undefined).sort()).toEqual(["bad-1", "err-1", odd].sort());

    expect((await agent.stop("SIGTERM")).code).toBe(0);
  });

  it("runs a command frame delivered twice once: the second delivery is dropped and logged, never answered", async () => {
    older = await new OlderHub().listen();
    const state = await agents.statePath();
    expect((await agents.enroll({ hub: older.url, token: "tok_any.secret", state })).code).toBe(0);
    const agent = agents.run({ state });
    await waitFor("the agent's hello", () => older!.received.find((f) => f.type === "hello"));

    // The same frame twice (a redelivery across replicas, a replayed frame), then once more after its answer.
    const frame = { type: "session_command", sessionId: "dup", correlationId: "dup-1", query: "select 1" };
    older.send(frame);
    older.send(frame);
    expect(await older.replyTo("dup")).toMatchObject({ correlationId: "dup-1", ok: true });
    older.send(frame);
    await agent.waitForLog((l) => l.msg === "dropped a command delivered twice" && l.correlationId === "dup-1" && l.duplicateCommands === 2);
    // A later command is answered, and by then nothing more came for the duplicated one.
    older.send({ type: "session_command", sessionId: "next", correlationId: "next-1", query: "select 2" });
    expect(await older.replyTo("next")).toMatchObject({ correlationId: "next-1", ok: true });
    expect(older.received.filter((f) => f.type === "session_response" && f.correlationId === "dup-1")).toHaveLength(1);

    expect((await agent.stop("SIGTERM")).code).toBe(0);
  });
});
