import { EventEmitter } from "node:events";
import { CloseCode } from "@uplink/protocol";
import pino from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { WebSocket } from "ws";
import { ConnectionLostError, HubError } from "../errors.js";
import { HubMetrics } from "../metrics.js";
import { AgentConnection } from "./agent-connection.js";
import type { CommandRequest } from "./pending-commands.js";

/** Just enough of a `ws` WebSocket to drive a connection by hand and see what it wrote. */
class FakeSocket extends EventEmitter {
  sent: Record<string, unknown>[] = [];
  bufferedAmount = 0;
  closedWith: [number, string] | undefined;
  terminated = false;
  pings = 0;
  /** When set, what `bufferedAmount` becomes after each send (a peer that stopped reading). */
  bufferAfterSend: number | undefined;
  send(data: string) {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
    if (this.bufferAfterSend !== undefined) this.bufferedAmount = this.bufferAfterSend;
  }
  ping() {
    this.pings++;
  }
  close(code: number, reason: string) {
    this.closedWith = [code, reason];
  }
  terminate() {
    this.terminated = true;
    this.emit("close", 1006, Buffer.from(""));
  }
  /** The agent sends a frame. */
  reply(frame: unknown) {
    this.emit("message", Buffer.from(typeof frame === "string" ? frame : JSON.stringify(frame)), false);
  }
  commands() {
    return this.sent.filter((f) => f.type === "session_command");
  }
}

const log = pino({ level: "silent" });
let seq = 0;
const request = (over: Partial<CommandRequest> = {}): CommandRequest => ({
  correlationId: `cid-${++seq}`,
  sessionId: "s1",
  kind: "query",
  collector: "host",
  query: "select 1",
  timeoutMs: 5000,
  log,
  ...over,
});
const ok = (c: Record<string, unknown>, result: unknown = { columns: ["q"], rows: [[c.query]], rowCount: 1, truncated: false }) => ({
  type: "session_response",
  sessionId: c.sessionId,
  correlationId: c.correlationId,
  ok: true,
  result,
});

function connect(protocol = 2) {
  const ws = new FakeSocket();
  const metrics = new HubMetrics();
  const onClose = vi.fn();
  const onLegacyShapes = vi.fn();
  const connection = new AgentConnection(ws as unknown as WebSocket, { agentId: "agt_t", protocol, log, metrics, limits: { sendHighWaterBytes: 1024, sendHardLimitBytes: 8192, maxFramesPerSecond: 50 }, onHello: vi.fn(), onLegacyShapes, onClose });
  return { ws, metrics, connection, onClose, onLegacyShapes };
}

async function counter(metrics: HubMetrics, name: string): Promise<number> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  return (metric?.values ?? []).reduce((sum, v) => sum + (v.value as number), 0);
}

afterEach(() => vi.useRealTimers());

describe("AgentConnection", () => {
  it("cancels a command whose caller gave up: `cancel` to the agent, `cancelled` to the caller, its late reply an orphan", async () => {
    const { ws, metrics, connection } = connect();
    const gaveUp = new AbortController();
    const pending = connection.send(request({ signal: gaveUp.signal }));
    const [command] = ws.commands();
    gaveUp.abort();
    await expect(pending).rejects.toMatchObject({ code: "cancelled" });
    expect(ws.sent.at(-1)).toEqual({ type: "cancel", correlationId: command!.correlationId });
    expect(connection.pendingCount).toBe(0);
    ws.reply(ok(command!));
    expect(await counter(metrics, "uplink_orphan_replies_total")).toBe(1);
    expect((await metrics.registry.getSingleMetric("uplink_commands_completed_total")!.get()).values).toContainEqual(expect.objectContaining({ labels: { kind: "query", outcome: "cancelled" }, value: 1 }));
  });

  it("sends nothing for a caller that gave up before the command was sent, and ignores an abort after the reply", async () => {
    const { ws, connection } = connect();
    const early = new AbortController();
    early.abort();
    await expect(connection.send(request({ signal: early.signal }))).rejects.toMatchObject({ code: "cancelled" });
    expect(ws.sent).toEqual([]);
    const late = new AbortController();
    const answered = connection.send(request({ signal: late.signal }));
    ws.reply(ok(ws.commands()[0]!));
    await expect(answered).resolves.toMatchObject({ ok: true });
    late.abort();
    expect(ws.sent.filter((f) => f.type === "cancel")).toEqual([]);
  });

  it("routes replies answered out of order to the callers that asked, by correlationId", async () => {
    const { ws, connection } = connect();
    const queries = Array.from({ length: 20 }, (_, i) => `select ${i}`);
    const replies = queries.map((query) => connection.send(request({ query })));
    for (const c of ws.commands().reverse()) ws.reply(ok(c));
    const answers = await Promise.all(replies);
    answers.forEach((a, i) => expect((a.result as { rows: string[][] }).rows[0]![0]).toBe(queries[i]));
  });

  it("drops and counts a reply whose correlationId is unknown or already answered", async () => {
    const { ws, metrics, connection } = connect();
    const first = connection.send(request());
    const c = ws.commands()[0]!;
    ws.reply(ok(c));
    await first;
    ws.reply(ok(c));
    ws.reply(ok({ ...c, correlationId: "never-sent" }));
    ws.reply({ type: "session_response", sessionId: "s1", ok: true, result: {} });
    expect(await counter(metrics, "uplink_orphan_replies_total")).toBe(3);
  });

  it("fails a command at its deadline, sends cancel, and drops the late reply", async () => {
    vi.useFakeTimers();
    const { ws, metrics, connection } = connect();
    const pending = connection.send(request({ timeoutMs: 100 }));
    const c = ws.commands()[0]!;
    const failure = expect(pending).rejects.toMatchObject({ code: "timeout", status: 504 });
    vi.advanceTimersByTime(100);
    await failure;
    expect(ws.sent.at(-1)).toEqual({ type: "cancel", correlationId: c.correlationId });
    ws.reply(ok(c));
    expect(await counter(metrics, "uplink_orphan_replies_total")).toBe(1);
  });

  it("fails every pending command at once when the socket closes, and clears their timers", async () => {
    const { ws, connection, onClose } = connect();
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const pending = Array.from({ length: 5 }, () => connection.send(request({ timeoutMs: 60_000 })));
    ws.emit("close", 1006, Buffer.from(""));
    const results = await Promise.allSettled(pending);
    for (const r of results) expect(r).toMatchObject({ status: "rejected", reason: { code: "agent_disconnected" } });
    expect(connection.state).toBe("closed");
    expect(onClose).toHaveBeenCalledOnce();
    expect(process.getActiveResourcesInfo().filter((r) => r === "Timeout").length).toBe(timersBefore);
    await expect(connection.send(request())).rejects.toBeInstanceOf(ConnectionLostError);
  });

  it("closes with a code and fails pending commands with the given error", async () => {
    const { ws, connection } = connect();
    const pending = connection.send(request());
    connection.close(CloseCode.REPLACED, "replaced", new ConnectionLostError("agent_replaced", "replaced"));
    await expect(pending).rejects.toMatchObject({ code: "agent_replaced" });
    expect(ws.closedWith).toEqual([4409, "replaced"]);
    expect(connection.state).toBe("closing");
    ws.emit("close", 4409, Buffer.from("replaced"));
    expect(connection.state).toBe("closed");
  });

  it("fails the named command when the agent's reply to it is malformed", async () => {
    const { ws, connection } = connect();
    const pending = connection.send(request());
    const c = ws.commands()[0]!;
    ws.reply({ type: "session_response", correlationId: c.correlationId, ok: "yes" });
    await expect(pending).rejects.toMatchObject({ code: "bad_response", status: 502 });
  });

  it("closes with 1008 after more than ten violations in a minute", () => {
    const { ws } = connect();
    for (let i = 0; i < 10; i++) ws.reply("not json");
    expect(ws.closedWith).toBeUndefined();
    ws.emit("message", Buffer.from([1, 2, 3]), true);
    expect(ws.closedWith?.[0]).toBe(1008);
  });

  it("answers busy at once when the socket has too much unsent data", async () => {
    const { ws, connection } = connect();
    ws.bufferedAmount = 4096;
    await expect(connection.send(request())).rejects.toMatchObject({ code: "busy", status: 503 });
    expect(ws.commands()).toHaveLength(0);
  });

  it("terminates a socket whose unsent data passes the hard limit, failing what was pending", async () => {
    const { ws, connection } = connect();
    const earlier = connection.send(request());
    ws.bufferAfterSend = 9000;
    const last = connection.send(request());
    await expect(last).rejects.toMatchObject({ code: "agent_disconnected" });
    await expect(earlier).rejects.toMatchObject({ code: "agent_disconnected" });
    expect(ws.terminated).toBe(true);
  });

  it("never rate-limits replies to its own commands", async () => {
    const { ws, connection } = connect();
    const replies = Array.from({ length: 200 }, () => connection.send(request()));
    for (const c of ws.commands()) ws.reply(ok(c));
    await Promise.all(replies);
    expect(ws.closedWith).toBeUndefined();
  });

  it("drops unsolicited frames past the rate limit as violations and closes with 1008 when they persist", () => {
    const { ws } = connect();
    for (let i = 0; i < 50; i++) ws.reply({ type: "hello", protocol: 2, agentVersion: "1", hostname: "h", platform: "linux", arch: "x64" });
    expect(ws.closedWith).toBeUndefined();
    for (let i = 0; i < 11; i++) ws.reply({ type: "hello", protocol: 2, agentVersion: "1", hostname: "h", platform: "linux", arch: "x64" });
    expect(ws.closedWith?.[0]).toBe(1008);
  });

  it("terminates a socket that did not answer the previous ping", () => {
    const { ws, connection } = connect();
    connection.sweep();
    expect(ws.pings).toBe(1);
    ws.emit("pong");
    connection.sweep();
    expect(ws.terminated).toBe(false);
    connection.sweep();
    expect(ws.terminated).toBe(true);
    expect(connection.state).toBe("closed");
  });

  describe("with a protocol-1 agent", () => {
    it("keeps one command in flight per session and routes uncorrelated replies to it", async () => {
      const { ws, connection } = connect(1);
      const a1 = connection.send(request({ sessionId: "a", query: "a1" }));
      const a2 = connection.send(request({ sessionId: "a", query: "a2" }));
      const b1 = connection.send(request({ sessionId: "b", query: "b1" }));
      expect(ws.commands().map((c) => c.query)).toEqual(["a1", "b1"]);
      expect(ws.commands()[0]).not.toHaveProperty("correlationId");
      expect(ws.commands()[0]).toMatchObject({ sessionId: "a", session_id: "a" });
      ws.reply({ type: "session_response", session_id: "b", ok: true, result: { columns: ["q"], rows: [["b1"]], rowCount: 1, truncated: false } });
      ws.reply({ type: "session_response", sessionId: "a", ok: true, result: { columns: ["q"], rows: [["a1"]], rowCount: 1, truncated: false } });
      expect(ws.commands().map((c) => c.query)).toEqual(["a1", "b1", "a2"]);
      ws.reply({ type: "session_response", sessionId: "a", ok: true, result: { columns: ["q"], rows: [["a2"]], rowCount: 1, truncated: false } });
      const rows = (await Promise.all([a1, a2, b1])).map((r) => (r.result as { rows: string[][] }).rows[0]![0]);
      expect(rows).toEqual(["a1", "a2", "b1"]);
    });

    it("holds a timed-out session until the late reply so it cannot answer the next command", async () => {
      vi.useFakeTimers();
      const { ws, metrics, connection } = connect(1);
      const first = connection.send(request({ sessionId: "a", query: "slow", timeoutMs: 100 }));
      const failure = expect(first).rejects.toBeInstanceOf(HubError);
      vi.advanceTimersByTime(100);
      await failure;
      const second = connection.send(request({ sessionId: "a", query: "next", timeoutMs: 1000 }));
      expect(ws.commands().map((c) => c.query)).toEqual(["slow"]);
      ws.reply({ type: "session_response", sessionId: "a", ok: true, result: { columns: ["q"], rows: [["slow"]], rowCount: 1, truncated: false } });
      expect(await counter(metrics, "uplink_orphan_replies_total")).toBe(1);
      expect(ws.commands().map((c) => c.query)).toEqual(["slow", "next"]);
      ws.reply({ type: "session_response", sessionId: "a", ok: true, result: { columns: ["q"], rows: [["next"]], rowCount: 1, truncated: false } });
      expect(((await second).result as { rows: string[][] }).rows[0]![0]).toBe("next");
    });

    it("reads replies in every field shape as answers, counts each shape, and reports the traits once each", async () => {
      const { ws, metrics, connection, onLegacyShapes } = connect(1);
      expect(connection.legacyShapes).toBeNull();
      const q = (query: string) => connection.send(request({ sessionId: query, query }));
      const [noOk, errString, errObject, sessionIdOnly, topLevel] = ["no-ok", "err-string", "err-object", "session-id", "top-level"].map(q);
      ws.reply({ type: "session_response", sessionId: "no-ok", result: { columns: ["q"], rows: [["no-ok"]], rowCount: 1, truncated: false } });
      ws.reply({ type: "session_response", sessionId: "err-string", error: "table users is gone" });
      ws.reply({ type: "session_response", sessionId: "err-object", ok: false, error: { code: "query_failed", message: "near SELEC" } });
      ws.reply({ type: "session_response", session_id: "session-id", ok: true, result: { columns: [], rows: [], rowCount: 0, truncated: false } });
      ws.reply({ type: "session_response", sessionId: "top-level", columns: ["q"], rows: [["top"]], rowCount: 1, truncated: false });
      expect(await noOk).toMatchObject({ ok: true, result: { rows: [["no-ok"]] } });
      expect(await errString).toMatchObject({ ok: false, code: "agent_error", error: "table users is gone" });
      expect(await errObject).toMatchObject({ ok: false, code: "query_failed", error: "near SELEC" });
      expect(await sessionIdOnly).toMatchObject({ ok: true, result: { rowCount: 0 } });
      expect(await topLevel).toMatchObject({ ok: true, result: { columns: ["q"], rows: [["top"]], rowCount: 1, truncated: false } });

      expect(await counter(metrics, "uplink_frame_violations_total")).toBe(0);
      expect(await counter(metrics, "uplink_orphan_replies_total")).toBe(0);
      const byShape = Object.fromEntries((await metrics.registry.getSingleMetric("uplink_legacy_replies_total")!.get()).values.map((v) => [v.labels.shape, v.value]));
      expect(byShape).toEqual({ no_ok: 3, error_string: 1, error_object: 1, session_id: 1, top_level_result: 1 });
      // No hello came before the first reply; each new trait was reported once, the last report holding them all.
      expect(connection.legacyShapes).toEqual(["no_hello", "no_ok", "error_string", "error_object", "session_id", "top_level_result"]);
      expect(onLegacyShapes.mock.calls.map(([, shapes]) => shapes)).toEqual([
        ["no_hello", "no_ok"],
        ["no_hello", "no_ok", "error_string"],
        ["no_hello", "no_ok", "error_string", "error_object"],
        ["no_hello", "no_ok", "error_string", "error_object", "session_id"],
        ["no_hello", "no_ok", "error_string", "error_object", "session_id", "top_level_result"],
      ]);
    });

    it("reports the current shape as no legacy trait once a hello came first", async () => {
      const { ws, connection, onLegacyShapes } = connect(1);
      ws.reply({ type: "hello", protocol: 1, agentVersion: "1", hostname: "h", platform: "linux", arch: "x64" });
      const pending = connection.send(request({ sessionId: "a" }));
      ws.reply({ type: "session_response", sessionId: "a", ok: true, result: { columns: [], rows: [], rowCount: 0, truncated: false } });
      await pending;
      expect(connection.legacyShapes).toEqual([]);
      expect(onLegacyShapes).toHaveBeenCalledExactlyOnceWith(connection, []);
    });

    it("holds a cancelled command's session until its late reply (no cancel frame can reach a legacy agent)", async () => {
      const { ws, metrics, connection } = connect(1);
      const gaveUp = new AbortController();
      const first = connection.send(request({ sessionId: "a", query: "abandoned", signal: gaveUp.signal }));
      gaveUp.abort();
      await expect(first).rejects.toMatchObject({ code: "cancelled" });
      expect(ws.sent.filter((f) => f.type === "cancel")).toEqual([]);
      const second = connection.send(request({ sessionId: "a", query: "next" }));
      expect(ws.commands().map((c) => c.query)).toEqual(["abandoned"]);
      ws.reply({ type: "session_response", sessionId: "a", ok: true, result: { columns: ["q"], rows: [["abandoned"]], rowCount: 1, truncated: false } });
      expect(await counter(metrics, "uplink_orphan_replies_total")).toBe(1);
      expect(ws.commands().map((c) => c.query)).toEqual(["abandoned", "next"]);
      ws.reply({ type: "session_response", sessionId: "a", ok: true, result: { columns: ["q"], rows: [["next"]], rowCount: 1, truncated: false } });
      expect(((await second).result as { rows: string[][] }).rows[0]![0]).toBe("next");
    });

    it("drops a cancelled command still queued behind its session without ever sending it", async () => {
      const { ws, connection } = connect(1);
      const busy = connection.send(request({ sessionId: "a", query: "busy" }));
      const gaveUp = new AbortController();
      const queued = connection.send(request({ sessionId: "a", query: "queued", signal: gaveUp.signal }));
      gaveUp.abort();
      await expect(queued).rejects.toMatchObject({ code: "cancelled" });
      ws.reply({ type: "session_response", sessionId: "a", ok: true, result: { columns: ["q"], rows: [["busy"]], rowCount: 1, truncated: false } });
      await busy;
      expect(ws.commands().map((c) => c.query)).toEqual(["busy"]);
    });
  });
});
