import { z } from "zod";
import { MAX_ERROR_CHARS, MAX_ID_CHARS } from "./constants.js";
import type { ErrorCode } from "./error-codes.js";
import { CorrelationId } from "./hub-messages.js";

/**
 * The legacy shapes of a `session_response` the hub accepts, as agents in the field write them (those
 * built from the correlation-ID gist this protocol descends from: `sessResp(sessionId, correlationId)`
 * plus an `error` string or the result, no `ok`). Each is a trait of one reply; a reply may show several.
 * docs/protocol.md has a row for each in its compatibility table (a test keeps them in step).
 */
export const LEGACY_REPLY_SHAPES = {
  no_ok: "`ok` is absent: an `error` field means failure, otherwise success.",
  error_string: "A failure with no code (an `error` string alone, or `ok:false` alone): the code is `agent_error`.",
  error_object: "`error` is an object `{code, message}`.",
  session_id: "The session is spelled `session_id` only.",
  top_level_result: "A success without `result`: its result is the reply's remaining top-level fields.",
} as const;
export type LegacyReplyShape = keyof typeof LEGACY_REPLY_SHAPES;
export const LEGACY_REPLY_SHAPE_LIST = Object.keys(LEGACY_REPLY_SHAPES) as LegacyReplyShape[];

/** The code a failure gets when the agent gave none (an `error` string, or `ok:false` alone). */
export const LEGACY_ERROR_CODE = "agent_error" satisfies ErrorCode;

/**
 * The envelope of a `session_response`: the fields stripped before the remaining top-level fields of a
 * success without `result` are taken as its result.
 */
export const REPLY_ENVELOPE_FIELDS = ["type", "sessionId", "session_id", "correlationId", "ok", "result", "error", "code", "durationMs"] as const;

const Code = z.string().min(1).max(64);
const Message = z.string().max(MAX_ERROR_CHARS);
const ErrorObject = z.looseObject({ code: Code.optional(), message: Message.optional() });
const SessionField = z.string().max(MAX_ID_CHARS);

/** The fields as the wire may carry them; anything else is kept for a top-level result. */
const Envelope = z.looseObject({
  type: z.literal("session_response"),
  // Empty when the command it answers named no session (a malformed command answered as bad_command).
  sessionId: SessionField.optional(),
  session_id: SessionField.optional(),
  correlationId: CorrelationId.optional(),
  ok: z.boolean().optional(),
  result: z.unknown().optional(),
  // null and false mean "no error" (`{error: null, result}` is a common way to write a success).
  error: z.union([Message, ErrorObject, z.null(), z.literal(false)]).optional(),
  code: Code.optional(),
  durationMs: z.number().nonnegative().optional(),
});
type Envelope = z.output<typeof Envelope>;

/** A `session_response` as the hub reads it, whatever shape it came in. */
export interface SessionResponse {
  type: "session_response";
  sessionId: string;
  correlationId?: string;
  ok: boolean;
  /** Present on success when the agent sent one (under `result`, or as top-level fields). */
  result?: unknown;
  /** Present on failure: the agent's message, or a stock one when it sent none. */
  error?: string;
  /** Present on failure: the agent's code, or {@link LEGACY_ERROR_CODE} when it sent none. */
  code?: string;
  durationMs?: number;
  /** The legacy shapes this reply was written in, in {@link LEGACY_REPLY_SHAPE_LIST} order; empty for the current shape. */
  legacy: LegacyReplyShape[];
}

const ENVELOPE = new Set<string>(REPLY_ENVELOPE_FIELDS);

/**
 * Folds every accepted shape into one reply:
 *
 *   ok present           → it decides; absent → failure iff `error` is set (not null/false)
 *   error "text"         → message "text", code from `code`, else agent_error
 *   error {code,message} → that code (else `code`, else agent_error) and message
 *   sessionId | session_id (sessionId wins when both)
 *   success: `result` when present, else the non-envelope fields when there are any
 */
function normalize(e: Envelope): SessionResponse {
  const legacy = new Set<LegacyReplyShape>();
  if (e.ok === undefined) legacy.add("no_ok");
  if (e.sessionId === undefined) legacy.add("session_id");
  const hasError = e.error !== undefined && e.error !== null && e.error !== false;
  const ok = e.ok ?? !hasError;
  const reply: SessionResponse = { type: "session_response", sessionId: (e.sessionId ?? e.session_id) as string, ok, legacy: [] };
  if (e.correlationId !== undefined) reply.correlationId = e.correlationId;
  if (e.durationMs !== undefined) reply.durationMs = e.durationMs;
  if (ok) {
    if (Object.hasOwn(e, "result")) reply.result = e.result;
    else {
      const rest = Object.entries(e).filter(([k]) => !ENVELOPE.has(k));
      if (rest.length > 0) {
        reply.result = Object.fromEntries(rest);
        legacy.add("top_level_result");
      }
    }
  } else {
    let code = e.code;
    let message: string | undefined;
    if (typeof e.error === "string") message = e.error;
    else if (typeof e.error === "object" && e.error !== null) {
      legacy.add("error_object");
      code = e.error.code ?? code;
      message = e.error.message;
    }
    if (code === undefined) {
      if (!legacy.has("error_object")) legacy.add("error_string");
      code = LEGACY_ERROR_CODE;
    }
    reply.code = code;
    reply.error = message ?? "agent answered an error without a message";
  }
  reply.legacy = LEGACY_REPLY_SHAPE_LIST.filter((s) => legacy.has(s));
  return reply;
}

/**
 * `session_response` as the hub reads it: this protocol's own shape and every legacy shape of
 * {@link LEGACY_REPLY_SHAPES}. What fails it cannot be understood at all: no session, a field of the
 * wrong type, or a bound exceeded. Agents build this frame only through {@link buildResponse}.
 */
export const SessionResponse = Envelope.refine((r) => r.sessionId !== undefined || r.session_id !== undefined, {
  message: "sessionId is required",
  path: ["sessionId"],
}).transform(normalize);
