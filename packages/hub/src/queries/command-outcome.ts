import { performance } from "node:perf_hooks";
import { describeIssues, isAgentErrorCode, QueryResult } from "@uplink/protocol";
import { AgentAnsweredError, AgentOfflineError, CommandCancelledError, CommandTimeoutError, HubError } from "../errors.js";
import type { CommandRequest } from "../agents/pending-commands.js";
import type { AuditFinish, QueryStatus } from "../store/store.js";
import type { CommandRouter } from "./command-router.js";

/** How one query command to one agent ended. */
export type CommandOutcome = QueryAnswered | { status: Exclude<QueryStatus, "ok" | "pending">; error: HubError; durationMs: number };

/**
 * An agent's result. Its JSON is made once, when first read: the audit stores it and the REST answer sends
 * it; a scheduled run, which stores rows of its own, never makes it. A class, not an object literal with a
 * getter: V8 makes such a literal the slow way.
 */
class QueryAnswered {
  readonly status = "ok" as const;
  #json: string | undefined;

  constructor(
    readonly result: QueryResult,
    readonly durationMs: number,
  ) {}

  get resultJson(): string {
    return (this.#json ??= JSON.stringify(this.result));
  }
}

/**
 * Dispatches one query command and folds every way it can end into an outcome: the agent's result,
 * its error answer (busy → 503, timeout → 504, anything else → 502 with its code), a malformed result,
 * the agent being offline, the deadline, or the connection going away. Never rejects.
 */
export async function runCommand(router: CommandRouter, agentId: string, request: CommandRequest): Promise<CommandOutcome> {
  const t0 = performance.now();
  try {
    const reply = await router.dispatch(agentId, request);
    const durationMs = round(performance.now() - t0);
    if (!reply.ok) return failed(errorOfReply(reply.code, reply.error), durationMs);
    const parsed = QueryResult.safeParse(reply.result);
    if (!parsed.success) {
      return failed(new AgentAnsweredError("bad_response", `agent answered with a malformed query result: ${describeIssues(parsed.error)}`), durationMs);
    }
    return new QueryAnswered(parsed.data, durationMs);
  } catch (err) {
    const error = err instanceof HubError ? err : HubError.of("internal", (err as Error).message, { cause: err });
    return failed(error, round(performance.now() - t0));
  }
}

/**
 * The HubError an `ok:false` reply becomes: the agent's own code, with the status of an agent's answer in the
 * error registry (busy → 503, timeout → 504, the rest → 502); a code agents may not answer with becomes
 * `bad_response`, the agent's code and message kept in its message.
 */
export function errorOfReply(code: string | undefined, message = "agent answered an error without a message"): HubError {
  if (code !== undefined && !isAgentErrorCode(code)) {
    return new AgentAnsweredError("bad_response", `agent answered with code ${JSON.stringify(code)}, which agents may not send: ${message}`);
  }
  return new AgentAnsweredError(code ?? "internal", message);
}

/** The audit update for an outcome; a result larger than `resultMaxBytes` is left out and flagged. */
export function auditFinishOf(outcome: CommandOutcome, resultMaxBytes: number): AuditFinish {
  // Written out rather than spread from a common base: a spread followed by more fields is a slow object
  // copy in V8, microseconds on every query (issue 15).
  const { status, durationMs } = outcome;
  const finishedAt = Date.now();
  if (status !== "ok") {
    return { status, finishedAt, durationMs, errorCode: outcome.error.code, errorMessage: outcome.error.message, resultJson: null, resultTruncated: false };
  }
  const tooBig = outcome.resultJson.length > resultMaxBytes;
  return { status, finishedAt, durationMs, errorCode: null, errorMessage: null, resultJson: tooBig ? null : outcome.resultJson, resultTruncated: tooBig };
}

function failed(error: HubError, durationMs: number): CommandOutcome {
  const status =
    error instanceof AgentOfflineError ? "offline"
    : error instanceof CommandTimeoutError || error.code === "timeout" ? "timeout"
    : error instanceof CommandCancelledError ? "cancelled"
    : "error";
  return { status, error, durationMs };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
