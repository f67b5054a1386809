import { describe, expect, it } from "vitest";
import { parseAgentToHub, parseHubToAgent } from "./frames.js";
import { MAX_LABELS } from "./agent-messages.js";
import { MAX_ERROR_CHARS } from "./constants.js";
import { buildResponse, commandRef } from "./response.js";

describe("buildResponse", () => {
  it("echoes the correlationId verbatim on success and on error", () => {
    const ref = { sessionId: "s", correlationId: "c-ÄÖ-1" };
    expect(buildResponse(ref, { ok: true, result: { columns: [], rows: [], rowCount: 0, truncated: false }, durationMs: 2 })).toEqual({
      type: "session_response",
      sessionId: "s",
      correlationId: "c-ÄÖ-1",
      ok: true,
      result: { columns: [], rows: [], rowCount: 0, truncated: false },
      durationMs: 2,
    });
    expect(buildResponse(ref, { ok: false, code: "busy", error: "full" })).toEqual({ type: "session_response", sessionId: "s", correlationId: "c-ÄÖ-1", ok: false, code: "busy", error: "full" });
  });

  it("leaves correlationId out when the command had none", () => {
    expect(buildResponse({ sessionId: "s" }, { ok: false, code: "timeout", error: "late" })).not.toHaveProperty("correlationId");
  });

  it("cuts an error message past MAX_ERROR_CHARS, so that even an answer quoting a huge frame passes the hub's schema", () => {
    const frame = buildResponse({ sessionId: "s", correlationId: "c" }, { ok: false, code: "bad_command", error: `unknown frame type "${"t".repeat(MAX_ERROR_CHARS * 2)}"` });
    expect(frame.error).toHaveLength(MAX_ERROR_CHARS);
    expect(frame.error!.endsWith("…")).toBe(true);
    expect(parseAgentToHub(JSON.stringify(frame)).ok).toBe(true);
  });

  it("produces frames the hub's schema accepts", () => {
    const frame = buildResponse({ sessionId: "s", correlationId: "c" }, { ok: false, code: "query_failed", error: "no such table" });
    expect(parseAgentToHub(JSON.stringify(frame))).toMatchObject({ ok: true, message: { type: "session_response", correlationId: "c" } });
  });
});

describe("commandRef", () => {
  it("reads sessionId, falling back to session_id, and correlationId from a raw frame", () => {
    expect(commandRef({ session_id: "old", correlationId: "c" })).toEqual({ sessionId: "old", correlationId: "c" });
    expect(commandRef({ sessionId: "new", session_id: "old" })).toEqual({ sessionId: "new", correlationId: undefined });
    expect(commandRef({ correlationId: 7 })).toBeUndefined();
    expect(commandRef("x")).toBeUndefined();
  });
});

describe("parseAgentToHub", () => {
  it("refuses a hello with more labels than MAX_LABELS", () => {
    const hello = (n: number) => JSON.stringify({ type: "hello", protocol: 2, agentVersion: "1", hostname: "h", platform: "linux", arch: "x64", labels: Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, "v"])) });
    expect(parseAgentToHub(hello(MAX_LABELS)).ok).toBe(true);
    expect(parseAgentToHub(hello(MAX_LABELS + 1))).toMatchObject({ ok: false, error: `hello: labels: at most ${MAX_LABELS} labels` });
  });
});

describe("parseHubToAgent", () => {
  it("folds a legacy session_id into sessionId and fills defaults", () => {
    expect(parseHubToAgent(JSON.stringify({ type: "session_command", session_id: "s1", query: "select 1" }))).toEqual({
      ok: true,
      message: { type: "session_command", sessionId: "s1", kind: "query", collector: "host", query: "select 1" },
    });
  });

  it("names what is wrong with a bad frame", () => {
    expect(parseHubToAgent("{")).toEqual({ ok: false, error: "frame is not JSON" });
    expect(parseHubToAgent("[]")).toMatchObject({ ok: false, error: "frame is not a JSON object" });
    expect(parseHubToAgent(JSON.stringify({ type: "nope" }))).toMatchObject({ ok: false, error: 'unknown frame type "nope"' });
    expect(parseHubToAgent(JSON.stringify({ type: "session_command", query: "x" }))).toMatchObject({ ok: false, error: "session_command: sessionId: sessionId is required" });
    expect(parseHubToAgent(JSON.stringify({ type: "__proto__" }))).toMatchObject({ ok: false });
  });
});
