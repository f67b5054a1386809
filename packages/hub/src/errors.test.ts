import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { AGENT_ERROR_CODES, agentAnswerStatus, ERROR_CODE_LIST, ERROR_CODES, isAgentErrorCode, type HttpErrorCode } from "@uplink/protocol";
import { describe, expect, it } from "vitest";
import { sourceFiles } from "../../../test/fixtures/source-files.js";
import { errorOfReply } from "./queries/command-outcome.js";
import {
  AgentBusyError,
  AgentOfflineError,
  BadRequestError,
  BusUnavailableError,
  CommandCancelledError,
  CommandTimeoutError,
  ConnectionLostError,
  ForbiddenError,
  HubError,
  IdempotencyInProgressError,
  IdempotencyMismatchError,
  NotFoundError,
  NotReadyError,
  PayloadTooLargeError,
  RateLimitedError,
  StoreError,
  UnauthorizedError,
} from "./errors.js";

const httpCodes = ERROR_CODE_LIST.filter((code): code is HttpErrorCode => ERROR_CODES[code].status !== null);

describe("HubError", () => {
  it.each(httpCodes)("built from %s carries the registry's status, and its default message unless given one", (code) => {
    const error = HubError.of(code);
    expect(error).toMatchObject({ code, status: ERROR_CODES[code].status, message: ERROR_CODES[code].message });
    expect(HubError.of(code, "more specific").message).toBe("more specific");
  });

  it("has a class per common case, each with its code's registry status", () => {
    const errors = [
      new BadRequestError("x"),
      new UnauthorizedError(),
      new ForbiddenError("x"),
      new NotFoundError("x"),
      new PayloadTooLargeError(1),
      new RateLimitedError(1),
      new NotReadyError("x"),
      new AgentOfflineError("agt"),
      new AgentBusyError("x"),
      new CommandTimeoutError(1),
      new CommandCancelledError(),
      new ConnectionLostError("agent_disconnected", "x"),
      new ConnectionLostError("agent_replaced", "x"),
      new ConnectionLostError("hub_shutting_down", "x"),
      new BusUnavailableError(new Error("down")),
      new StoreError("x"),
      new IdempotencyInProgressError("k"),
      new IdempotencyMismatchError("k", "elsewhere"),
    ];
    for (const error of errors) expect(error.status, `${error.name} (${error.code})`).toBe(ERROR_CODES[error.code as HttpErrorCode].status);
    expect(errors.map((e) => `${e.code} ${e.status}`)).toEqual([
      "invalid_request 400",
      "unauthorized 401",
      "forbidden 403",
      "not_found 404",
      "payload_too_large 413",
      "rate_limited 429",
      "not_ready 503",
      "agent_offline 409",
      "busy 503",
      "timeout 504",
      "cancelled 502",
      "agent_disconnected 502",
      "agent_replaced 502",
      "hub_shutting_down 503",
      "bus_unavailable 503",
      "internal 500",
      "idempotency_in_progress 409",
      "idempotency_mismatch 422",
    ]);
  });
});

describe("errorOfReply", () => {
  it("keeps an agent's code with the status of an agent's answer in the registry (502, except busy 503 and timeout 504)", () => {
    for (const code of AGENT_ERROR_CODES) {
      if (!isAgentErrorCode(code)) throw new Error(`${code} is not an agent's code`);
      expect(errorOfReply(code, "m"), code).toMatchObject({ code, status: agentAnswerStatus(code), message: "m" });
    }
    expect([errorOfReply("busy").status, errorOfReply("timeout").status, errorOfReply("query_failed").status]).toEqual([503, 504, 502]);
  });

  it("reads an error without a code as the agent's internal error, and a code agents may not send as bad_response", () => {
    expect(errorOfReply(undefined)).toMatchObject({ code: "internal", status: 502, message: "agent answered an error without a message" });
    for (const code of ["unauthorized", "hub_shutting_down", "made_up"]) {
      const error = errorOfReply(code, "trust me");
      expect(error).toMatchObject({ code: "bad_response", status: 502 });
      expect(error.message).toBe(`agent answered with code ${JSON.stringify(code)}, which agents may not send: trust me`);
    }
  });
});

describe("HTTP statuses in hub sources", () => {
  it("come from the registry: no hub source outside errors.ts builds a HubError with a status of its own", async () => {
    const files = (await sourceFiles(fileURLToPath(new URL(".", import.meta.url)))).filter((f) => !f.endsWith("/errors.ts"));
    expect(files.length).toBeGreaterThan(20);
    const offenders: string[] = [];
    for (const file of files) if (/new HubError\(\s*["'`][a-z_]+["'`]\s*,\s*\d/.test(await readFile(file, "utf8"))) offenders.push(file);
    expect(offenders).toEqual([]);
  });
});
