import { ERROR_CODE_LIST, ERROR_CODES } from "@uplink/protocol";
import { describe, expect, it } from "vitest";
import { EXIT_CODES, exitCodeOf, exitCodesHelp } from "./exit-codes.js";

describe("exitCodeOf", () => {
  it("exits 3 when no answer arrived", () => {
    expect(exitCodeOf({ status: 0, code: "unreachable" })).toBe(EXIT_CODES.unreachable);
  });

  it.each(ERROR_CODE_LIST.filter((code) => ERROR_CODES[code].status !== null))("exits by the registry for %s: 5 when retryable, else 1", (code) => {
    const { status, retryable } = ERROR_CODES[code];
    expect(exitCodeOf({ status: status!, code })).toBe(retryable ? EXIT_CODES.transient : EXIT_CODES.apiError);
  });

  it("reads the agent's answers by the agent's status: final, so 1", () => {
    for (const code of ["query_failed", "read_only", "internal", "agent_error"]) expect(exitCodeOf({ status: 502, code }), code).toBe(EXIT_CODES.apiError);
    expect(exitCodeOf({ status: 503, code: "busy" })).toBe(EXIT_CODES.transient);
    expect(exitCodeOf({ status: 504, code: "timeout" })).toBe(EXIT_CODES.apiError);
  });

  it("exits 5 on a proxy's 502 or 503 (no code of the hub's), 1 on its other errors", () => {
    expect(exitCodeOf({ status: 502, code: undefined })).toBe(EXIT_CODES.transient);
    expect(exitCodeOf({ status: 503, code: undefined })).toBe(EXIT_CODES.transient);
    expect(exitCodeOf({ status: 500, code: undefined })).toBe(EXIT_CODES.apiError);
    expect(exitCodeOf({ status: 404, code: undefined })).toBe(EXIT_CODES.apiError);
  });
});

describe("exitCodesHelp", () => {
  it("lists every exit code once, in order", () => {
    const listed = [...exitCodesHelp().matchAll(/^ {2}(\d+) {2}\S/gm)].map((m) => Number(m[1]));
    expect(listed).toEqual([0, 1, 2, 3, 4, 5]);
    expect(Object.values(EXIT_CODES)).toEqual(listed);
  });
});
