import {
  buildResponse,
  HealthResult,
  type CommandRef,
  type Outcome,
  type QueryResult,
  type SessionCommandFrame,
  type SessionResponseFrame,
} from "@uplink/protocol";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { Collector, QueryContext } from "./collectors/collector.js";
import { CommandDispatcher, type DispatcherOptions } from "./dispatcher.js";
import { CollectorError } from "./errors.js";

const ONE: QueryResult = { columns: ["1"], rows: [[1]], rowCount: 1, truncated: false };

/** A collector whose queries wait until the test releases them (or they are aborted). */
class GatedCollector implements Collector {
  readonly name = "gated";
  readonly signals: AbortSignal[] = [];
  readonly #releases: Array<() => void> = [];

  query(_query: string, ctx: QueryContext): Promise<QueryResult> {
    this.signals.push(ctx.signal);
    return new Promise((resolve, reject) => {
      this.#releases.push(() => resolve(ONE));
      ctx.signal.addEventListener("abort", () => reject(new CollectorError("cancelled", "aborted")));
    });
  }

  release(index: number): void {
    this.#releases[index]?.();
  }

  async close(): Promise<void> {}
}

/** Stands in for the host collector: answers ONE to every query. */
class StaticCollector implements Collector {
  readonly name = "host";
  async query(): Promise<QueryResult> {
    return ONE;
  }
  async close(): Promise<void> {}
}

class FailingCollector implements Collector {
  readonly name = "failing";
  constructor(private readonly error: unknown) {}
  async query(): Promise<QueryResult> {
    throw this.error;
  }
  async close(): Promise<void> {}
}

function setup(options: Partial<DispatcherOptions> = {}) {
  const sent: SessionResponseFrame[] = [];
  const gated = new GatedCollector();
  const dispatcher = new CommandDispatcher({
    collectors: [new StaticCollector(), gated, new FailingCollector(new CollectorError("query_failed", "no such table: nope"))],
    send: (frame) => sent.push(frame),
    log: pino({ level: "silent" }),
    agentVersion: "9.9.9",
    queryTimeoutMs: 30_000,
    maxResultRows: 100,
    maxResultBytes: 100_000,
    maxInflight: 2,
    ...options,
  });
  const command = (fields: Partial<SessionCommandFrame> & Record<string, unknown>) =>
    dispatcher.handleFrame(JSON.stringify({ type: "session_command", sessionId: "s1", ...fields }));
  return { dispatcher, sent, gated, command };
}

/** Asserts that a frame is exactly what buildResponse yields for this command and outcome. */
function expectBuilt(frame: SessionResponseFrame | undefined, ref: CommandRef, outcome: Outcome): void {
  expect(frame).toBeDefined();
  expect(frame?.durationMs).toBeTypeOf("number");
  expect(frame).toEqual(buildResponse(ref, { ...outcome, durationMs: frame?.durationMs }));
}

const flush = () => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("CommandDispatcher", () => {
  it("answers a query with the collector's result and echoes the correlationId", async () => {
    const { sent, command } = setup();
    command({ correlationId: "c-ok", query: "select 1" });
    await flush();
    expectBuilt(sent[0], { sessionId: "s1", correlationId: "c-ok" }, { ok: true, result: ONE });
  });

  it("answers a collector failure with its code (query_failed)", async () => {
    const { sent, command } = setup();
    command({ correlationId: "c-fail", collector: "failing", query: "select * from nope" });
    await flush();
    expectBuilt(sent[0], { sessionId: "s1", correlationId: "c-fail" }, { ok: false, code: "query_failed", error: "no such table: nope" });
  });

  it("maps an unexpected collector failure to internal", async () => {
    const { sent, command } = setup({ collectors: [new FailingCollector(new TypeError("boom"))] });
    command({ correlationId: "c-int", collector: "failing", query: "x" });
    await flush();
    expectBuilt(sent[0], { sessionId: "s1", correlationId: "c-int" }, { ok: false, code: "internal", error: "boom" });
  });

  it("answers empty_query for blank text", () => {
    const { sent, command } = setup();
    command({ correlationId: "c-empty", query: "  \n\t " });
    expectBuilt(sent[0], { sessionId: "s1", correlationId: "c-empty" }, { ok: false, code: "empty_query", error: "the query is empty" });
  });

  it("answers unknown_collector", () => {
    const { sent, command } = setup();
    command({ correlationId: "c-uc", collector: "nope", query: "select 1" });
    expectBuilt(sent[0], { sessionId: "s1", correlationId: "c-uc" }, {
      ok: false,
      code: "unknown_collector",
      error: 'no collector "nope" (this agent has: host, gated, failing)',
    });
  });

  it("answers busy past maxInflight at once, and accepts again when a slot frees", async () => {
    const { dispatcher, sent, gated, command } = setup();
    command({ correlationId: "c-1", collector: "gated", query: "q" });
    command({ correlationId: "c-2", collector: "gated", query: "q" });
    command({ correlationId: "c-busy", collector: "gated", query: "q" });
    expect(dispatcher.inflight).toBe(2);
    expectBuilt(sent[0], { sessionId: "s1", correlationId: "c-busy" }, {
      ok: false,
      code: "busy",
      error: "the agent already runs 2 queries",
    });
    gated.release(0);
    await flush();
    expect(sent[1]).toMatchObject({ correlationId: "c-1", ok: true });
    command({ correlationId: "c-3", collector: "gated", query: "q" });
    expect(dispatcher.inflight).toBe(2);
    expect(sent).toHaveLength(2);
  });

  it("applies the maxInflight of welcome and reports the welcome", () => {
    const welcomes: unknown[] = [];
    const { dispatcher } = setup({ onWelcome: (w) => welcomes.push(w) });
    const welcome = { type: "welcome", protocol: 2, hubId: "h", agentId: "a", healthIntervalMs: 15_000, maxInflight: 7 };
    dispatcher.handleFrame(JSON.stringify(welcome));
    expect(dispatcher.maxInflight).toBe(7);
    expect(welcomes).toEqual([welcome]);
  });

  it("follows welcome's maxInflight only up to its own ceiling, answering busy at once beyond it", () => {
    const { dispatcher, sent, command } = setup({ maxInflightCeiling: 3 });
    dispatcher.handleFrame(JSON.stringify({ type: "welcome", protocol: 2, hubId: "h", agentId: "a", healthIntervalMs: 15_000, maxInflight: 16 }));
    expect(dispatcher.maxInflight).toBe(3);
    for (const n of [1, 2, 3, 4]) command({ correlationId: `c-${n}`, collector: "gated", query: "q" });
    expect(dispatcher.inflight).toBe(3);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ correlationId: "c-4", ok: false, code: "busy", error: "the agent already runs 3 queries" });
    dispatcher.abortAll("test over");
  });

  it("aborts the work and answers cancelled on cancel, once", async () => {
    const { dispatcher, sent, gated, command } = setup();
    command({ correlationId: "c-cancel", collector: "gated", query: "q" });
    dispatcher.handleFrame(JSON.stringify({ type: "cancel", correlationId: "c-cancel" }));
    expect(gated.signals[0]?.aborted).toBe(true);
    expectBuilt(sent[0], { sessionId: "s1", correlationId: "c-cancel" }, {
      ok: false,
      code: "cancelled",
      error: "the hub cancelled the command",
    });
    gated.release(0);
    dispatcher.handleFrame(JSON.stringify({ type: "cancel", correlationId: "c-cancel" }));
    await flush();
    expect(sent).toHaveLength(1);
    expect(dispatcher.inflight).toBe(0);
  });

  it("lets completion win when it lands before the cancel", async () => {
    const { dispatcher, sent, gated, command } = setup();
    command({ correlationId: "c-race", collector: "gated", query: "q" });
    gated.release(0);
    await flush();
    dispatcher.handleFrame(JSON.stringify({ type: "cancel", correlationId: "c-race" }));
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ correlationId: "c-race", ok: true });
  });

  it("aborts the work and answers timeout at the command's deadline", async () => {
    const { dispatcher, sent, gated, command } = setup();
    command({ correlationId: "c-slow", collector: "gated", query: "q", timeoutMs: 30 });
    await sleep(80);
    expect(gated.signals[0]?.aborted).toBe(true);
    expectBuilt(sent[0], { sessionId: "s1", correlationId: "c-slow" }, {
      ok: false,
      code: "timeout",
      error: "no answer within 30 ms",
    });
    expect(sent[0]?.durationMs).toBeGreaterThanOrEqual(25);
    expect(sent).toHaveLength(1);
    expect(dispatcher.inflight).toBe(0);
  });

  it("answers bad_command for a malformed command, echoing its correlationId and session", () => {
    const { dispatcher, sent, command } = setup();
    command({ correlationId: "c-bad", kind: "reboot" as never, query: "select 1" });
    expect(sent[0]).toMatchObject({ type: "session_response", correlationId: "c-bad", sessionId: "s1", code: "bad_command" });
    expectBuilt(sent[0], { sessionId: "s1", correlationId: "c-bad" }, { ok: false, code: "bad_command", error: sent[0]?.error ?? "" });
    expect(sent[0]?.error).toContain("kind");
    expect(dispatcher.invalidFrames).toBe(1);
  });

  it("counts frames that are not JSON or name no command, without answering them", () => {
    const { dispatcher, sent } = setup();
    for (const text of ["not json", "[1]", '{"type":"welcome"}', '{"type":"cancel","correlationId":""}', "null"]) {
      dispatcher.handleFrame(text);
    }
    expect(sent).toHaveLength(0);
    expect(dispatcher.invalidFrames).toBe(5);
  });

  it("answers health in its own lane, never behind slow queries and never busy", () => {
    const { dispatcher, sent, command } = setup();
    command({ correlationId: "c-1", collector: "gated", query: "q" });
    command({ correlationId: "c-2", collector: "gated", query: "q" });
    command({ sessionId: "uplink-health", correlationId: "c-health", kind: "health" });
    expect(sent).toHaveLength(1);
    const frame = sent[0];
    const result = HealthResult.parse(frame?.result);
    expect(result).toMatchObject({ agentVersion: "9.9.9", inflight: 2, collectors: ["host", "gated", "failing"] });
    expectBuilt(frame, { sessionId: "uplink-health", correlationId: "c-health" }, { ok: true, result });
    expect(dispatcher.inflight).toBe(2);
  });

  it("answers a command without correlationId without one", async () => {
    const { sent, command } = setup();
    command({ query: "select 1" });
    command({ query: "" });
    await flush();
    expect(sent.map((f) => "correlationId" in f)).toEqual([false, false]);
    expectBuilt(sent[1], { sessionId: "s1" }, { ok: true, result: ONE });
  });

  it("answers a legacy session_id command with sessionId", async () => {
    const { sent, dispatcher } = setup();
    dispatcher.handleFrame(JSON.stringify({ type: "session_command", session_id: "legacy", query: "select 1" }));
    await flush();
    expectBuilt(sent[0], { sessionId: "legacy" }, { ok: true, result: ONE });
    expect(sent[0]).not.toHaveProperty("session_id");
  });

  it("runs a command delivered twice once: a second delivery while it runs is dropped and counted", async () => {
    const { dispatcher, sent, gated, command } = setup();
    command({ correlationId: "c-dup", collector: "gated", query: "q" });
    command({ correlationId: "c-dup", collector: "gated", query: "q" });
    expect(gated.signals).toHaveLength(1);
    expect(dispatcher.inflight).toBe(1);
    expect(sent).toHaveLength(0);
    expect(dispatcher.duplicateCommands).toBe(1);
    gated.release(0);
    await flush();
    expectBuilt(sent[0], { sessionId: "s1", correlationId: "c-dup" }, { ok: true, result: ONE });
    expect(sent).toHaveLength(1);
  });

  it("runs a command delivered again after it was answered once: the replayed frame is dropped and counted", async () => {
    const { dispatcher, sent, command } = setup();
    const frame = { correlationId: "c-again", query: "select 1" };
    command(frame);
    await flush();
    expect(sent).toHaveLength(1);
    command(frame);
    command({ ...frame, kind: "health" });
    await flush();
    expect(sent).toHaveLength(1);
    expect(dispatcher.duplicateCommands).toBe(2);
    // Commands without a correlationId (protocol 1) cannot be told apart and run every time.
    command({ query: "select 1" });
    command({ query: "select 1" });
    await flush();
    expect(sent).toHaveLength(3);
  });

  it("aborts running queries without answering when the connection is lost", async () => {
    const { dispatcher, sent, gated, command } = setup();
    command({ correlationId: "c-1", collector: "gated", query: "q", timeoutMs: 20 });
    dispatcher.abortAll("connection lost");
    expect(gated.signals[0]?.aborted).toBe(true);
    await sleep(40);
    expect(sent).toHaveLength(0);
    expect(dispatcher.inflight).toBe(0);
  });

  it("survives a send that throws and a collector that throws synchronously", async () => {
    const throwing: Collector = {
      name: "sync",
      query: () => {
        throw new CollectorError("query_failed", "sync failure");
      },
      close: async () => {},
    };
    const sent: SessionResponseFrame[] = [];
    let failSend = true;
    const { dispatcher } = setup({
      collectors: [throwing],
      send: (frame) => {
        if (failSend) throw new Error("socket gone");
        sent.push(frame);
      },
    });
    dispatcher.handleFrame(JSON.stringify({ type: "session_command", sessionId: "s", correlationId: "a", collector: "sync", query: "q" }));
    await flush();
    failSend = false;
    dispatcher.handleFrame(JSON.stringify({ type: "session_command", sessionId: "s", correlationId: "b", collector: "sync", query: "q" }));
    await flush();
    expect(sent).toEqual([expect.objectContaining({ correlationId: "b", code: "query_failed", error: "sync failure" })]);
  });
});
