import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_ERROR_CHARS } from "./constants.js";
import { parseAgentToHub } from "./frames.js";
import { LEGACY_ERROR_CODE, LEGACY_REPLY_SHAPE_LIST, REPLY_ENVELOPE_FIELDS } from "./legacy-reply.js";
import { buildResponse } from "./response.js";

const ROWS = { columns: ["n"], rows: [[1]], rowCount: 1, truncated: false };
const read = (frame: Record<string, unknown>) => parseAgentToHub(JSON.stringify({ type: "session_response", ...frame }));

describe("SessionResponse (legacy reply shapes)", () => {
  it("reads this protocol's own shape with no legacy trait", () => {
    expect(read({ sessionId: "s", correlationId: "c", ok: true, result: ROWS, durationMs: 3 })).toEqual({
      ok: true,
      message: { type: "session_response", sessionId: "s", correlationId: "c", ok: true, result: ROWS, durationMs: 3, legacy: [] },
    });
    expect(read({ sessionId: "s", ok: false, code: "query_failed", error: "no such table" })).toEqual({
      ok: true,
      message: { type: "session_response", sessionId: "s", ok: false, code: "query_failed", error: "no such table", legacy: [] },
    });
  });

  it("takes a reply without ok as a success unless it carries an error", () => {
    expect(read({ sessionId: "s", result: ROWS })).toMatchObject({ ok: true, message: { ok: true, result: ROWS, legacy: ["no_ok"] } });
    expect(read({ sessionId: "s", error: null, result: ROWS })).toMatchObject({ ok: true, message: { ok: true, result: ROWS, legacy: ["no_ok"] } });
    expect(read({ sessionId: "s", error: false, result: ROWS })).toMatchObject({ ok: true, message: { ok: true, result: ROWS, legacy: ["no_ok"] } });
    expect(read({ sessionId: "s", error: "disk on fire" })).toEqual({
      ok: true,
      message: { type: "session_response", sessionId: "s", ok: false, code: LEGACY_ERROR_CODE, error: "disk on fire", legacy: ["no_ok", "error_string"] },
    });
  });

  it("maps an error without a code to agent_error, and reads an error object's code and message", () => {
    expect(read({ sessionId: "s", ok: false, error: "boom" })).toMatchObject({ message: { ok: false, code: "agent_error", error: "boom", legacy: ["error_string"] } });
    expect(read({ sessionId: "s", ok: false })).toMatchObject({ message: { ok: false, code: "agent_error", error: "agent answered an error without a message", legacy: ["error_string"] } });
    expect(read({ sessionId: "s", error: { code: "query_failed", message: "near SELEC" } })).toMatchObject({
      message: { ok: false, code: "query_failed", error: "near SELEC", legacy: ["no_ok", "error_object"] },
    });
    expect(read({ sessionId: "s", error: { message: "no code" } })).toMatchObject({ message: { ok: false, code: "agent_error", error: "no code", legacy: ["no_ok", "error_object"] } });
    expect(read({ sessionId: "s", error: { code: "busy" } })).toMatchObject({ message: { ok: false, code: "busy", error: "agent answered an error without a message" } });
  });

  it("folds session_id into sessionId (sessionId wins when both are present)", () => {
    expect(read({ session_id: "old", ok: true, result: ROWS })).toMatchObject({ message: { sessionId: "old", legacy: ["session_id"] } });
    expect(read({ sessionId: "new", session_id: "old", ok: true, result: ROWS })).toMatchObject({ message: { sessionId: "new", legacy: [] } });
  });

  it("takes the remaining top-level fields of a success without result as its result, stripping the envelope", () => {
    const reply = read({ session_id: "s", correlationId: "c", code: "ignored", durationMs: 2, error: null, ...ROWS });
    expect(reply).toEqual({
      ok: true,
      message: { type: "session_response", sessionId: "s", correlationId: "c", ok: true, result: ROWS, durationMs: 2, legacy: ["no_ok", "session_id", "top_level_result"] },
    });
    // A bare acknowledgement is a success with no result.
    expect(read({ sessionId: "s" })).toEqual({ ok: true, message: { type: "session_response", sessionId: "s", ok: true, legacy: ["no_ok"] } });
    expect([...REPLY_ENVELOPE_FIELDS].sort()).toEqual(["code", "correlationId", "durationMs", "error", "ok", "result", "sessionId", "session_id", "type"]);
  });

  it("still refuses what cannot be understood: no session, wrong types, bounds exceeded", () => {
    expect(read({ ok: true })).toMatchObject({ ok: false, error: "session_response: sessionId: sessionId is required" });
    expect(read({ sessionId: "s", ok: "yes" }).ok).toBe(false);
    expect(read({ sessionId: "s", correlationId: 42 }).ok).toBe(false);
    expect(read({ sessionId: "s", error: 42 }).ok).toBe(false);
    expect(read({ sessionId: "s", error: { code: 7 } }).ok).toBe(false);
    expect(read({ sessionId: "s", error: "e".repeat(MAX_ERROR_CHARS + 1) }).ok).toBe(false);
    expect(read({ sessionId: "x".repeat(10_000) }).ok).toBe(false);
  });

  it("never throws, and folds any mix of legacy fields into one consistent reply (property)", () => {
    const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
    const legacyLike = fc.record(
      {
        sessionId: maybe(fc.oneof(fc.constantFrom("s", "uplink-health", ""), fc.string(), fc.anything())),
        session_id: maybe(fc.oneof(fc.constantFrom("s", "old"), fc.string(), fc.anything())),
        correlationId: maybe(fc.oneof(fc.uuid(), fc.anything())),
        ok: maybe(fc.oneof(fc.boolean(), fc.anything())),
        result: maybe(fc.oneof(fc.constant(ROWS), fc.anything())),
        error: maybe(fc.oneof(fc.string(), fc.constant(null), fc.constant(false), fc.record({ code: maybe(fc.string()), message: maybe(fc.string()) }), fc.anything())),
        code: maybe(fc.oneof(fc.constantFrom("busy", "query_failed"), fc.anything())),
        durationMs: maybe(fc.oneof(fc.nat(), fc.anything())),
        columns: maybe(fc.constant(["n"])),
        rows: maybe(fc.anything()),
        extra: maybe(fc.anything()),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(legacyLike, (frame) => {
        const text = JSON.stringify({ type: "session_response", ...frame });
        const parsed = parseAgentToHub(text);
        if (!parsed.ok || parsed.message.type !== "session_response") return;
        const raw = JSON.parse(text) as Record<string, unknown>;
        const m = parsed.message;
        expect(typeof m.sessionId).toBe("string");
        expect(m.sessionId).toBe(typeof raw.sessionId === "string" ? raw.sessionId : raw.session_id);
        expect(m.legacy.every((s) => LEGACY_REPLY_SHAPE_LIST.includes(s))).toBe(true);
        const hasError = raw.error !== undefined && raw.error !== null && raw.error !== false;
        expect(m.ok).toBe(typeof raw.ok === "boolean" ? raw.ok : !hasError);
        expect(m.legacy.includes("no_ok")).toBe(raw.ok === undefined);
        if (m.ok) {
          expect(m).not.toHaveProperty("code");
          expect(m).not.toHaveProperty("error");
          if ("result" in raw) expect(m.result).toEqual(raw.result);
        } else {
          expect(typeof m.code).toBe("string");
          expect(typeof m.error).toBe("string");
          expect(m).not.toHaveProperty("result");
        }
      }),
      { numRuns: 3000 },
    );
  });

  it("reads every answer buildResponse makes with no legacy trait", () => {
    for (const frame of [
      buildResponse({ sessionId: "s", correlationId: "c" }, { ok: true, result: ROWS }),
      buildResponse({ sessionId: "s" }, { ok: false, code: "busy", error: "full" }),
    ]) {
      expect(parseAgentToHub(JSON.stringify(frame))).toMatchObject({ ok: true, message: { legacy: [] } });
    }
  });
});

describe("LEGACY_REPLY_SHAPES", () => {
  const docs = readFileSync(new URL("../../../docs/protocol.md", import.meta.url), "utf8");
  it.each(LEGACY_REPLY_SHAPE_LIST)("%s has a row in the compatibility table of docs/protocol.md", (shape) => {
    expect(docs).toMatch(new RegExp(`^\\| ${shape} \\|`, "m"));
  });

  it("documents exactly the envelope fields stripped from a top-level result", () => {
    expect(docs).toContain(`every field except the envelope: ${REPLY_ENVELOPE_FIELDS.map((f) => `\`${f}\``).join(", ")}`);
  });
});
