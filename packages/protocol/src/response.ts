import { MAX_ERROR_CHARS, MAX_ID_CHARS } from "./constants.js";
import type { ErrorCode } from "./error-codes.js";
import type { HealthResult, QueryResult } from "./results.js";

/** What a response must echo from the command it answers. */
export interface CommandRef {
  sessionId: string;
  /** Absent when the command had none (a legacy hub); then the response has none either. */
  correlationId?: string | undefined;
}

/** How a command ended, as the agent reports it. */
export type Outcome =
  | { ok: true; result: QueryResult | HealthResult; durationMs?: number }
  | { ok: false; code: ErrorCode; error: string; durationMs?: number };

/** A `session_response` as the agent writes it. */
export interface SessionResponseFrame {
  type: "session_response";
  sessionId: string;
  correlationId?: string;
  ok: boolean;
  result?: QueryResult | HealthResult;
  error?: string;
  code?: ErrorCode;
  durationMs?: number;
}

/**
 * Builds a `session_response`: the only way one is made (rule 2). The correlationId is echoed verbatim
 * when the command carried one, and left out when it did not; the agent never invents one. An error
 * message past {@link MAX_ERROR_CHARS} is cut (it may quote a hostile frame), so the hub never takes the
 * answer for a protocol violation.
 */
export function buildResponse(ref: CommandRef, outcome: Outcome): SessionResponseFrame {
  const frame: SessionResponseFrame = { type: "session_response", sessionId: ref.sessionId, ok: outcome.ok };
  if (ref.correlationId !== undefined) frame.correlationId = ref.correlationId;
  if (outcome.ok) {
    frame.result = outcome.result;
  } else {
    frame.code = outcome.code;
    frame.error = outcome.error.length > MAX_ERROR_CHARS ? `${outcome.error.slice(0, MAX_ERROR_CHARS - 1)}…` : outcome.error;
  }
  if (outcome.durationMs !== undefined) frame.durationMs = outcome.durationMs;
  return frame;
}

/**
 * Reads the routing fields of a frame that may have failed its schema, so that even a malformed
 * command is answered with its own correlationId. Returns undefined when the frame names neither a
 * session nor a correlationId; a missing session is answered as `""`.
 */
export function commandRef(raw: unknown): CommandRef | undefined {
  if (typeof raw !== "object" || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  const sessionId = idField(r.sessionId) ?? idField(r.session_id);
  const correlationId = idField(r.correlationId);
  if (sessionId === undefined && correlationId === undefined) return undefined;
  return { sessionId: sessionId ?? "", correlationId };
}

/** An id the schemas would accept back: a non-empty string of at most MAX_ID_CHARS. */
function idField(value: unknown): string | undefined {
  return typeof value === "string" && value.length > 0 && value.length <= MAX_ID_CHARS ? value : undefined;
}
