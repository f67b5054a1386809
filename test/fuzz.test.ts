import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import WebSocket from "ws";
import type { Collector, QueryContext } from "../packages/agent/src/collectors/collector.js";
import { CommandDispatcher } from "../packages/agent/src/dispatcher.js";
import { parseHubConfig } from "../packages/hub/src/config.js";
import { buildHub, type Hub } from "../packages/hub/src/hub.js";
import { createLogger } from "../packages/hub/src/logger.js";
import { createToken } from "../packages/hub/src/security/tokens.js";
import { buildResponse, parseAgentToHub, parseHubToAgent, type QueryResult, type SessionResponseFrame } from "../packages/protocol/dist/index.js";
import { httpJson } from "./fixtures/hardening.js";

// Every `session_response` must come out of the protocol's one builder (rule 2): spy on it where the agent
// imports it from (the workspace link of @uplink/protocol resolves to this file).
vi.mock("../packages/protocol/dist/index.js", async (importOriginal) => {
  const protocol = await importOriginal<typeof import("../packages/protocol/dist/index.js")>();
  return { ...protocol, buildResponse: vi.fn(protocol.buildResponse) };
});

/** Unhandled rejections anywhere in this file fail it (the hub and the agent must never leave one). */
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => void unhandled.push(reason);
beforeAll(() => void process.on("unhandledRejection", onUnhandled));
afterAll(() => {
  process.off("unhandledRejection", onUnhandled);
  expect(unhandled).toEqual([]);
});

/** Error-level log lines: a handler that threw and was caught would log one. */
function errorCapture(): { log: ReturnType<typeof createLogger>; errors: unknown[] } {
  const errors: unknown[] = [];
  return { errors, log: createLogger("error", { write: (line: string) => void errors.push(JSON.parse(line)) }) };
}

const ID_POOL = ["c-1", "c-2", "c-3", "5d6f2c1e-8b7a-4c3d-9e0f-1a2b3c4d5e6f", "", "x".repeat(300), "ü→🙂", " c-1", "__proto__", "constructor"];
const anyId = fc.oneof(fc.constantFrom(...ID_POOL), fc.string(), fc.anything());
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });

/** A frame that is roughly a session_command: right field names, values right or wrong. */
const commandLike = fc.record(
  {
    type: fc.oneof(fc.constant("session_command"), fc.string()),
    sessionId: maybe(anyId),
    session_id: maybe(anyId),
    correlationId: maybe(anyId),
    kind: maybe(fc.oneof(fc.constantFrom("query", "health"), fc.anything())),
    collector: maybe(fc.oneof(fc.constantFrom("host", "gated", "failing", "nope"), fc.anything())),
    query: maybe(fc.oneof(fc.constantFrom("select 1", "", "   "), fc.string(), fc.anything())),
    timeoutMs: maybe(fc.oneof(fc.integer({ min: 1, max: 20 }), fc.anything())),
  },
  { requiredKeys: ["type"] },
);
const cancelLike = fc.record({ type: fc.constant("cancel"), correlationId: maybe(anyId) }, { requiredKeys: ["type"] });
const welcomeLike = fc.record({ type: fc.constant("welcome"), protocol: fc.anything(), hubId: anyId, agentId: anyId, healthIntervalMs: fc.anything(), maxInflight: fc.oneof(fc.integer({ min: -2, max: 8 }), fc.anything()) });

/** Text that decodes to nothing useful, then mutations of well-formed frames. */
function mutate(text: string, at: number, how: number): string {
  const i = text.length === 0 ? 0 : at % text.length;
  if (how === 0) return text.slice(0, i);
  if (how === 1) return text.slice(0, i) + text.slice(i + 1);
  if (how === 2) return text.slice(0, i) + "\"{}[],:" [at % 7] + text.slice(i);
  return text.slice(0, i) + String.fromCharCode((text.charCodeAt(i) + 1) % 0xffff) + text.slice(i + 1);
}
const hubFrameText = fc.oneof(
  { weight: 4, arbitrary: fc.oneof(commandLike, cancelLike, welcomeLike).map((f) => JSON.stringify(f)) },
  { weight: 2, arbitrary: fc.tuple(fc.oneof(commandLike, cancelLike).map((f) => JSON.stringify(f)), fc.nat(), fc.nat(3)).map(([t, at, how]) => mutate(t, at, how)) },
  { weight: 1, arbitrary: fc.oneof(fc.string(), fc.json(), fc.string({ unit: "binary" }), fc.constant(`${"[".repeat(100_000)}${"]".repeat(100_000)}`)) },
  // Huge field values: an answer that quotes them must still fit the hub's schema.
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 60_000, max: 140_000 }), fc.constantFrom("type", "collector", "query", "kind"), anyId).map(([n, field, id]) => JSON.stringify({ type: "session_command", sessionId: "s", correlationId: id, [field]: "t".repeat(n) })) },
);

/**
 * The reply shapes of agents in the field (docs/protocol.md, "Protocol-1 compatibility"), as rewrites of a
 * reply in the current shape. The hub must read each one as the same answer.
 */
type Reply = Record<string, unknown>;
const LEGACY_REWRITES: Record<string, (f: Reply) => Reply> = {
  current: (f) => f,
  no_ok: ({ ok: _ok, ...f }) => f,
  error_string: (f) => {
    const { code: _code, ...rest } = f;
    return f.ok === false ? rest : f;
  },
  error_object: (f) => {
    const { code, error, ...rest } = f;
    return f.ok === false ? { ...rest, error: { code, message: error } } : f;
  },
  session_id: ({ sessionId, ...f }) => ({ ...f, session_id: sessionId }),
  top_level_result: (f) => {
    const { result, ...rest } = f;
    return f.ok === true && typeof result === "object" && result !== null ? { ...rest, ...result } : f;
  },
};
const SHAPE_NAMES = Object.keys(LEGACY_REWRITES);
/** Any mix of legacy rewrites, applied in order. */
const legacyShapes = fc.subarray(SHAPE_NAMES.slice(1)).chain((names) => fc.shuffledSubarray(names, { minLength: names.length, maxLength: names.length }));
const rewrite = (frame: Reply, shapes: string[]): Reply => shapes.reduce((f, name) => LEGACY_REWRITES[name]!(f), frame);

/** A reply of the current shape, right or wrong in its values, then rewritten into any mix of legacy shapes. */
const legacyReplyText = fc
  .tuple(
    fc.record(
      {
        type: fc.constant("session_response"),
        sessionId: fc.oneof(fc.constantFrom("s", "uplink-health", ""), anyId),
        correlationId: maybe(anyId),
        ok: fc.oneof(fc.boolean(), fc.anything()),
        result: maybe(fc.oneof(fc.constant({ columns: ["n"], rows: [[1]], rowCount: 1, truncated: false }), fc.anything())),
        code: maybe(fc.oneof(fc.constantFrom("busy", "query_failed", "timeout"), fc.anything())),
        error: maybe(fc.oneof(fc.string(), fc.constant(null), fc.constant(false), fc.anything())),
        durationMs: maybe(fc.oneof(fc.nat(), fc.anything())),
      },
      { requiredKeys: ["type", "sessionId", "ok"] },
    ),
    legacyShapes,
  )
  .map(([frame, shapes]) => JSON.stringify(rewrite(frame, shapes)));

describe("fuzzing: frame parsing never throws", () => {
  it("parseAgentToHub and parseHubToAgent return a result for any text", () => {
    const text = fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.json(), hubFrameText, legacyReplyText, fc.anything().map((v) => JSON.stringify(v) ?? "undefined"));
    fc.assert(
      fc.property(text, (t) => {
        const a = parseAgentToHub(t);
        const h = parseHubToAgent(t);
        expect(typeof a.ok).toBe("boolean");
        expect(typeof h.ok).toBe("boolean");
        if (a.ok && a.message.type === "session_response") {
          expect(typeof a.message.sessionId).toBe("string");
          expect(typeof a.message.ok).toBe("boolean");
          expect(Array.isArray(a.message.legacy)).toBe(true);
          // A failure always carries a code and a message, whatever shape it came in.
          if (!a.message.ok) expect([typeof a.message.code, typeof a.message.error]).toEqual(["string", "string"]);
        }
        if (h.ok && h.message.type === "session_command") expect(typeof h.message.sessionId).toBe("string");
      }),
      { numRuns: 3000 },
    );
  });

  it("reads a well-formed reply rewritten into any mix of legacy shapes as the same answer", () => {
    const cell = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null));
    const wellFormed = fc.record(
      {
        type: fc.constant("session_response"),
        sessionId: fc.string({ minLength: 1, maxLength: 40 }),
        correlationId: maybe(fc.uuid()),
        ok: fc.boolean(),
        result: fc.record({ columns: fc.array(fc.string(), { maxLength: 3 }), rows: fc.array(fc.array(cell, { maxLength: 3 }), { maxLength: 3 }), rowCount: fc.nat(), truncated: fc.boolean() }),
        code: fc.constantFrom("busy", "query_failed", "timeout", "read_only"),
        error: fc.string({ maxLength: 200 }),
        durationMs: maybe(fc.nat()),
      },
      { requiredKeys: ["type", "sessionId", "ok", "result", "code", "error"] },
    ).map(({ ok, result, code, error, ...rest }) => (ok ? { ...rest, ok, result } : { ...rest, ok, code, error }));
    fc.assert(
      fc.property(wellFormed, legacyShapes, (frame, shapes) => {
        const current = parseAgentToHub(JSON.stringify(frame));
        const rewritten = rewrite(frame, shapes);
        const legacy = parseAgentToHub(JSON.stringify(rewritten));
        expect(current.ok && legacy.ok).toBe(true);
        if (!current.ok || !legacy.ok || current.message.type !== "session_response" || legacy.message.type !== "session_response") return;
        const { legacy: traits, ...answer } = legacy.message;
        const { legacy: none, ...expected } = current.message;
        expect(none).toEqual([]);
        // A rewrite that dropped the code (error_string before any error_object) leaves the documented stand-in.
        const error = rewritten.error as { code?: unknown } | string | undefined;
        const codeKept = typeof rewritten.code === "string" || (typeof error === "object" && typeof error.code === "string");
        if (!frame.ok && !codeKept) expected.code = "agent_error";
        expect(answer).toEqual(expected);
        // Every rewrite that changed the frame shows as a trait (no_ok always does; the others when they apply).
        if (shapes.includes("no_ok")) expect(traits).toContain("no_ok");
        if (shapes.includes("session_id")) expect(traits).toContain("session_id");
        expect(traits.every((t) => shapes.includes(t))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

const ONE: QueryResult = { columns: ["1"], rows: [[1]], rowCount: 1, truncated: false };
class Static implements Collector {
  readonly name = "host";
  async query(): Promise<QueryResult> {
    return ONE;
  }
  async close(): Promise<void> {}
}
class Gated implements Collector {
  readonly name = "gated";
  query(_q: string, ctx: QueryContext): Promise<QueryResult> {
    return new Promise((_resolve, reject) => ctx.signal.addEventListener("abort", () => reject(new Error("aborted")), { once: true }));
  }
  async close(): Promise<void> {}
}
class Failing implements Collector {
  readonly name = "failing";
  query(): Promise<QueryResult> {
    throw new TypeError("thrown synchronously");
  }
  async close(): Promise<void> {}
}

describe("fuzzing: the agent's CommandDispatcher", () => {
  it("never throws, answers only through buildResponse, echoes only correlationIds it was given, never answers one twice per command, and every answer passes the hub's schema", async () => {
    const built = vi.mocked(buildResponse);
    await fc.assert(
      fc.asyncProperty(fc.array(hubFrameText, { minLength: 1, maxLength: 40 }), async (frames) => {
        built.mockClear();
        const sent: SessionResponseFrame[] = [];
        const { log, errors } = errorCapture();
        const dispatcher = new CommandDispatcher({ collectors: [new Static(), new Gated(), new Failing()], send: (f) => sent.push(f), log, agentVersion: "fuzz", queryTimeoutMs: 15, maxResultRows: 10, maxResultBytes: 10_000, maxInflight: 2 });
        for (const text of frames) expect(() => dispatcher.handleFrame(text)).not.toThrow();
        await new Promise((resolve) => setTimeout(resolve, 25)); // past every deadline (≤ 20 ms)
        dispatcher.abortAll("fuzz run over");

        // Which correlationIds the input named, and how many command-like frames named each.
        const named = new Map<string, number>();
        for (const text of frames) {
          let raw: unknown;
          try {
            raw = JSON.parse(text);
          } catch {
            continue;
          }
          if (typeof raw !== "object" || raw === null || Array.isArray(raw)) continue;
          const r = raw as Record<string, unknown>;
          if (typeof r.correlationId === "string" && r.type !== "cancel") named.set(r.correlationId, (named.get(r.correlationId) ?? 0) + 1);
        }
        const builtFrames = built.mock.results.map((r) => r.value as SessionResponseFrame);
        const answered = new Map<string, number>();
        for (const frame of sent) {
          expect(builtFrames).toContain(frame);
          const parsed = parseAgentToHub(JSON.stringify(frame));
          expect(parsed.ok, JSON.stringify(parsed)).toBe(true);
          // The agent writes only the current shape, never a legacy one.
          expect(parsed.ok && parsed.message.type === "session_response" ? parsed.message.legacy : undefined).toEqual([]);
          if (frame.correlationId !== undefined) {
            expect(named.has(frame.correlationId), `invented correlationId ${JSON.stringify(frame.correlationId)}`).toBe(true);
            answered.set(frame.correlationId, (answered.get(frame.correlationId) ?? 0) + 1);
          }
        }
        for (const [id, n] of answered) expect(n, `answers for ${JSON.stringify(id)}`).toBeLessThanOrEqual(named.get(id)!);
        expect(dispatcher.inflight).toBe(0);
        expect(errors).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });
});

describe("fuzzing: an in-process hub fed random and mutated frames over a real socket", () => {
  let hub: Hub;
  let dataDir: string;
  let base: string;
  let agentUrl: string;
  let adminToken: string;
  let agentId: string;
  let agentKey: string;
  const { log, errors } = errorCapture();

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "uplink-fuzz-"));
    hub = buildHub(parseHubConfig({ port: 0, host: "127.0.0.1", dataDir, healthIntervalMs: "150ms", pingIntervalMs: "5s", queryTimeoutMs: "3s", logLevel: "error", metricsPort: "off" }, {}), { log });
    const { port } = await hub.listen();
    base = `http://127.0.0.1:${port}`;
    agentUrl = `ws://127.0.0.1:${port}/v1/agent`;
    adminToken = (await createToken(hub.store, { kind: "api", scope: "admin", name: "fuzz" })).token;
    const enrollToken = (await createToken(hub.store, { kind: "enroll", scope: null, name: "fuzz" })).token;
    ({ agentId, agentKey } = (await httpJson(`${base}/api/v1/enroll`, { json: { token: enrollToken, hostname: "fuzzed" } })).body);
  });
  afterAll(async () => {
    await hub.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** What the fuzzing agent does once its commands are pending. */
  type Action =
    | { kind: "reply"; target: number; ok: boolean; shapes: string[] }
    | { kind: "misroute"; target: number; id: string | null | number }
    | { kind: "mutated"; target: number; at: number; how: number }
    | { kind: "garbage"; text: string }
    | { kind: "binary" }
    | { kind: "hello"; frame: unknown };
  const action: fc.Arbitrary<Action> = fc.oneof(
    fc.record({ kind: fc.constant("reply" as const), target: fc.nat(7), ok: fc.boolean(), shapes: legacyShapes }),
    fc.record({ kind: fc.constant("misroute" as const), target: fc.nat(7), id: fc.oneof(fc.constantFrom(...ID_POOL), fc.constant(null), fc.integer()) }),
    fc.record({ kind: fc.constant("mutated" as const), target: fc.nat(7), at: fc.nat(), how: fc.nat(3) }),
    fc.record({ kind: fc.constant("garbage" as const), text: fc.oneof(fc.string(), fc.json(), fc.constant("[".repeat(50_000))) }),
    fc.record({ kind: fc.constant("binary" as const) }),
    fc.record({ kind: fc.constant("hello" as const), frame: fc.oneof(fc.anything(), fc.record({ type: fc.constant("hello"), protocol: fc.anything(), labels: fc.anything() })) }),
  );

  it("never crashes, never leaves a rejection unhandled, and gives each caller its own reply or an error — never another's", async () => {
    const tally = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 6 }), fc.array(action, { minLength: 1, maxLength: 14 }), async (k, actions) => {
        // A fresh socket per run (the newest connection of an agent wins), so each run has its own violation budget.
        const ws = new WebSocket(agentUrl, { headers: { authorization: `Bearer ${agentKey}`, "uplink-protocol": "2" }, perMessageDeflate: false });
        ws.on("error", () => undefined);
        const closed = new Promise<void>((resolve) => ws.once("close", () => resolve()));
        const commands: Array<{ correlationId: string; sessionId: string; query: string }> = [];
        /** Every result this agent sent under each correlationId: a caller may only ever get one of these. */
        const sentRows = new Map<string, string[]>();
        const sendText = (text: string) => {
          if (ws.readyState !== WebSocket.OPEN) return;
          try {
            const f = JSON.parse(text);
            // The result is under `result`, or (a legacy shape) the frame's own top-level fields.
            const result = f && typeof f === "object" && "result" in f ? f.result : f;
            if (f && typeof f.correlationId === "string" && result && typeof result === "object" && "rows" in result) {
              sentRows.set(f.correlationId, [...(sentRows.get(f.correlationId) ?? []), JSON.stringify(result.rows)]);
            }
          } catch {}
          ws.send(text);
        };
        const reply = (c: { correlationId?: string | null | number; sessionId: string }, rows: unknown[][], ok = true) =>
          JSON.stringify({ type: "session_response", sessionId: c.sessionId, ...(c.correlationId === null ? {} : { correlationId: c.correlationId }), ok, ...(ok ? { result: { columns: ["who"], rows, rowCount: rows.length, truncated: false } } : { code: "query_failed", error: "fuzzed failure" }), durationMs: 1 });
        let welcomed = false;
        ws.on("message", (data) => {
          const f = JSON.parse(String(data));
          if (f.type === "welcome") welcomed = true;
          if (f.type !== "session_command") return;
          if (f.kind === "health") ws.send(JSON.stringify({ type: "session_response", sessionId: f.sessionId, correlationId: f.correlationId, ok: true, result: { status: "ok", agentVersion: "fuzz", uptimeS: 1, load1: 0, memFreeBytes: 1, memTotalBytes: 2, inflight: 0, collectors: ["host"] } }));
          else commands.push(f);
        });
        await new Promise<void>((resolve, reject) => {
          ws.once("open", () => resolve());
          ws.once("unexpected-response", (_q, res) => reject(new Error(`upgrade refused ${res.statusCode}`)));
        });
        ws.send(JSON.stringify({ type: "hello", protocol: 2, agentVersion: "fuzz", hostname: "fuzzed", platform: "linux", arch: "x64", labels: {}, capabilities: ["correlation-id"] }));
        // `welcome` is sent once this socket is the agent's registered connection.
        const deadline = Date.now() + 5_000;
        while (!welcomed) {
          if (Date.now() > deadline) throw new Error("no welcome");
          await new Promise((r) => setTimeout(r, 2));
        }

        const calls = Array.from({ length: k }, (_, i) =>
          httpJson(`${base}/api/v1/agents/${agentId}/query`, { token: adminToken, json: { query: `select ${i}`, timeoutMs: 3_000 } }),
        );
        while (commands.length < k && ws.readyState === WebSocket.OPEN) await new Promise((r) => setTimeout(r, 5));

        for (const a of actions) {
          const c = commands[a.kind === "garbage" || a.kind === "binary" || a.kind === "hello" ? 0 : a.target % Math.max(1, commands.length)];
          if (a.kind === "reply" && c) sendText(JSON.stringify(rewrite(JSON.parse(reply(c, [[c.correlationId]], a.ok)), a.shapes)));
          else if (a.kind === "misroute" && c) sendText(reply({ sessionId: c.sessionId, correlationId: a.id }, [[String(a.id)]]));
          else if (a.kind === "mutated" && c) sendText(mutate(reply(c, [[c.correlationId]]), a.at, a.how));
          else if (a.kind === "garbage") sendText(a.text);
          else if (a.kind === "binary" && ws.readyState === WebSocket.OPEN) ws.send(Buffer.from([0, 1, 2, 255]), { binary: true });
          else if (a.kind === "hello") sendText(JSON.stringify(a.frame) ?? "null");
        }
        // Whatever is still pending gets its proper answer (a duplicate of an answered one is dropped by the hub).
        for (const c of commands) sendText(reply(c, [[c.correlationId]]));

        const answers = await Promise.all(calls);
        for (const res of answers) tally.set(res.status, (tally.get(res.status) ?? 0) + 1);
        for (const res of answers) {
          const own = res.headers["x-correlation-id"] as string;
          expect(own).toBeDefined();
          if (res.status === 200) {
            expect(res.body.correlationId).toBe(own);
            expect(sentRows.get(own) ?? [], `caller ${own} got rows it was never sent`).toContain(JSON.stringify(res.body.result.rows));
          } else {
            expect([502, 503, 504, 409]).toContain(res.status);
          }
        }
        ws.terminate();
        await closed;
        expect((await httpJson(`${base}/healthz`)).status).toBe(200);
      }),
      { numRuns: 40 },
    );
    console.log(`hub fuzz: callers answered by status ${JSON.stringify(Object.fromEntries(tally))}`);
    expect(tally.get(200)).toBeGreaterThan(0);
    expect(errors).toEqual([]);
    expect(unhandled).toEqual([]);
  });

  /** What a protocol-1 fuzzing agent does between answering its commands. */
  type LegacyAction =
    | { kind: "answer"; target: number; ok: boolean; shapes: string[] }
    | { kind: "stray"; session: string; shapes: string[] }
    | { kind: "garbage"; text: string }
    | { kind: "binary" }
    | { kind: "hello"; frame: unknown };
  const legacyAction: fc.Arbitrary<LegacyAction> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant("answer" as const), target: fc.nat(15), ok: fc.boolean(), shapes: legacyShapes }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("stray" as const), session: fc.constantFrom("stray", "nobody", "z"), shapes: legacyShapes }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("garbage" as const), text: fc.oneof(fc.string(), fc.json()) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("binary" as const) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("hello" as const), frame: fc.oneof(fc.anything(), fc.record({ type: fc.constant("hello"), protocol: fc.anything() })) }) },
  );

  it("with a protocol-1 agent answering in random legacy shapes, out of order across sessions, between hostile frames: each caller gets its own answer or an error", async () => {
    const tally = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 1, max: 3 }),
        fc.boolean(),
        fc.array(legacyShapes, { minLength: 1, maxLength: 3 }),
        fc.array(legacyAction, { minLength: 1, maxLength: 20 }),
        async (k, sessionCount, sendHello, healthShapes, actions) => {
          // No Uplink-Protocol header: protocol 1, commands without correlationId, replies routed by session.
          const ws = new WebSocket(agentUrl, { headers: { authorization: `Bearer ${agentKey}` }, perMessageDeflate: false });
          ws.on("error", () => undefined);
          const closed = new Promise<void>((resolve) => ws.once("close", () => resolve()));
          const received: Array<{ sessionId: string; query: string }> = [];
          const answered = new Set<{ sessionId: string; query: string }>();
          const send = (text: string) => ws.readyState === WebSocket.OPEN && ws.send(text);
          const answer = (c: { sessionId: string; query: string }, ok: boolean, shapes: string[]) => {
            answered.add(c);
            const frame = ok
              ? { type: "session_response", sessionId: c.sessionId, ok: true, result: { columns: ["query"], rows: [[c.query]], rowCount: 1, truncated: false }, durationMs: 1 }
              : { type: "session_response", sessionId: c.sessionId, ok: false, code: "query_failed", error: `failed: ${c.query}`, durationMs: 1 };
            send(JSON.stringify(rewrite(frame, shapes)));
          };
          let healthAnswers = 0;
          ws.on("message", (data) => {
            const f = JSON.parse(String(data));
            if (f.type !== "session_command") return;
            if (f.correlationId !== undefined) throw new Error("a protocol-1 agent got a correlationId");
            const health = { status: "ok", agentVersion: "fuzz", uptimeS: 1, load1: 0, memFreeBytes: 1, memTotalBytes: 2, inflight: 0, collectors: ["host"] };
            if (f.kind === "health") send(JSON.stringify(rewrite({ type: "session_response", sessionId: f.sessionId, ok: true, result: health }, healthShapes[healthAnswers++ % healthShapes.length]!)));
            else received.push({ sessionId: f.sessionId, query: f.query });
          });
          await new Promise<void>((resolve, reject) => {
            ws.once("open", () => resolve());
            ws.once("unexpected-response", (_q, res) => reject(new Error(`upgrade refused ${res.statusCode}`)));
          });
          if (sendHello) send(JSON.stringify({ type: "hello", protocol: 1, agentVersion: "fuzz", hostname: "fuzzed", platform: "linux", arch: "x64" }));
          // The hub registered this socket (replacing the previous run's) before its 101 reached us: it is the agent's now.

          const calls = Array.from({ length: k }, (_, i) =>
            httpJson(`${base}/api/v1/agents/${agentId}/query`, { token: adminToken, json: { query: `select ${i}`, sessionId: `s${i % sessionCount}`, timeoutMs: 3_000 } }),
          );
          let settled = false;
          const all = Promise.all(calls).finally(() => (settled = true));
          // The hub sends one command per session at a time; wait for the first of each before acting.
          const firstWave = Math.min(k, sessionCount);
          for (let t = 0; received.length < firstWave && ws.readyState === WebSocket.OPEN && t < 1000; t++) await new Promise((r) => setTimeout(r, 5));

          for (const a of actions) {
            const open = received.filter((c) => !answered.has(c));
            if (a.kind === "answer" && open.length > 0) answer(open[a.target % open.length]!, a.ok, a.shapes);
            else if (a.kind === "stray") send(JSON.stringify(rewrite({ type: "session_response", sessionId: a.session, ok: true, result: { columns: ["query"], rows: [["stray"]], rowCount: 1, truncated: false } }, a.shapes)));
            else if (a.kind === "garbage") send(a.text);
            else if (a.kind === "binary" && ws.readyState === WebSocket.OPEN) ws.send(Buffer.from([0, 1, 2, 255]), { binary: true });
            else if (a.kind === "hello") send(JSON.stringify(a.frame) ?? "null");
            await new Promise((r) => setImmediate(r));
          }
          // A well-behaved field agent answers every command it got, in any shape; the hub then sends the next of each session.
          while (!settled) {
            for (const c of received.filter((c) => !answered.has(c))) answer(c, true, ["no_ok", "session_id"]);
            await new Promise((r) => setTimeout(r, 5));
          }

          const answers = await all;
          answers.forEach((res, i) => {
            tally.set(res.status, (tally.get(res.status) ?? 0) + 1);
            if (res.status === 200) expect(res.body.result.rows, `caller ${i}`).toEqual([[`select ${i}`]]);
            else if (res.status === 502 && res.body.error.code !== "agent_disconnected" && res.body.error.code !== "agent_replaced") expect(res.body.error.message, `caller ${i}`).toBe(`failed: select ${i}`);
            else expect([502, 503, 504, 409], `caller ${i}: ${JSON.stringify(res.body)}`).toContain(res.status);
          });
          ws.terminate();
          await closed;
          expect((await httpJson(`${base}/healthz`)).status).toBe(200);
        },
      ),
      { numRuns: 30 },
    );
    console.log(`legacy hub fuzz: callers answered by status ${JSON.stringify(Object.fromEntries(tally))}`);
    expect(tally.get(200)).toBeGreaterThan(0);
    expect(tally.get(502)).toBeGreaterThan(0);
    expect(errors).toEqual([]);
    expect(unhandled).toEqual([]);
  });
});
