import { describe, expect, it } from "vitest";
import { AGENT_ERROR_CODES, agentAnswerStatus, ERROR_CODE_LIST, ERROR_CODES, isAgentErrorCode, isErrorCode, type ErrorSpec } from "./error-codes.js";
import { isTransientFailure, TRANSPORT_ERROR_CODES } from "./idempotency.js";

const specs: [string, ErrorSpec][] = Object.entries(ERROR_CODES);

describe("the error registry", () => {
  it.each(specs)("%s has an HTTP status (unless audit-only), a one-line message and a raiser", (_code, spec) => {
    if (spec.raisedBy === "audit") expect(spec.status).toBeNull();
    else expect(spec.status).toSatisfy((s: number) => Number.isInteger(s) && s >= 400 && s <= 599);
    expect(spec.message).toMatch(/^[A-Z].*\.$/);
    expect(spec.message).not.toContain("\n");
    expect(["agent", "hub-command", "rest", "audit"]).toContain(spec.raisedBy);
  });

  it("names retryable exactly the transient failures: 503s, and 502s of a lost transport", () => {
    const retryable = ERROR_CODE_LIST.filter((code) => ERROR_CODES[code].retryable);
    expect(retryable.sort()).toEqual(["agent_disconnected", "agent_replaced", "bus_unavailable", "busy", "hub_shutting_down", "not_ready", "replica_unreachable"]);
    for (const [code, spec] of specs) {
      if (spec.status === null) continue;
      expect(isTransientFailure(spec.status, code), code).toBe(spec.retryable);
      if (spec.status === 503) expect(spec.retryable, `${code} is a 503`).toBe(true);
    }
  });

  it("keeps the statuses of an agent's answers: 502, except busy 503 and timeout 504 (internal: 500 when the hub's own)", () => {
    const answered = Object.fromEntries([...AGENT_ERROR_CODES].map((code) => [code, isAgentErrorCode(code) ? agentAnswerStatus(code) : undefined]));
    expect(answered).toEqual({
      busy: 503,
      timeout: 504,
      cancelled: 502,
      bad_command: 502,
      empty_query: 502,
      unsupported_query: 502,
      unknown_collector: 502,
      query_failed: 502,
      read_only: 502,
      resource_limit: 502,
      internal: 502,
      agent_error: 502,
    });
    expect(ERROR_CODES.internal.status).toBe(500);
  });

  it("derives the agent's codes and the transport codes from it", () => {
    expect([...AGENT_ERROR_CODES]).toEqual(ERROR_CODE_LIST.filter((code) => ERROR_CODES[code].raisedBy === "agent"));
    expect(AGENT_ERROR_CODES.has("bad_response")).toBe(false);
    expect(AGENT_ERROR_CODES.has("unauthorized")).toBe(false);
    expect([...TRANSPORT_ERROR_CODES].sort()).toEqual(["agent_disconnected", "agent_replaced", "replica_unreachable"]);
  });

  it("knows its own codes and nothing else, inherited names included", () => {
    expect(isErrorCode("query_failed")).toBe(true);
    for (const name of ["toString", "constructor", "__proto__", "hasOwnProperty", "nope", ""]) expect(isErrorCode(name), name).toBe(false);
  });
});

describe("isTransientFailure", () => {
  it("reads an answer without one of our codes by its status: a proxy's 502 or 503 is transient, its other errors are not", () => {
    expect(isTransientFailure(502, undefined)).toBe(true);
    expect(isTransientFailure(503, undefined)).toBe(true);
    expect(isTransientFailure(503, "upstream_overloaded")).toBe(true);
    expect(isTransientFailure(502, "upstream_error")).toBe(false);
    expect(isTransientFailure(500, undefined)).toBe(false);
    expect(isTransientFailure(504, undefined)).toBe(false);
  });

  it("never calls an agent's final answer transient, whatever its status", () => {
    for (const code of ["query_failed", "read_only", "cancelled", "internal", "agent_error"]) expect(isTransientFailure(502, code), code).toBe(false);
    expect(isTransientFailure(504, "timeout")).toBe(false);
    expect(isTransientFailure(500, "internal")).toBe(false);
  });
});
