/**
 * The `Idempotency-Key` request header (the shape of the IETF httpapi draft and of Stripe's API): a client
 * names a POST that starts or creates something, and a repeat of it within the hub's retention window is
 * answered with the first response instead of doing the work again. Shared by the hub (which enforces it)
 * and the operator CLI (which sends one key per invocation and retries with it).
 */

import { ERROR_CODE_LIST, ERROR_CODES, isErrorCode } from "./error-codes.js";

/** Request header carrying the client's key (HTTP header names are case-insensitive; Node lower-cases them). */
export const IDEMPOTENCY_KEY_HEADER = "idempotency-key";
/** Response header set on an answer that is a stored first response, not new work. */
export const IDEMPOTENT_REPLAYED_HEADER = "idempotent-replayed";
/** Longest key accepted. */
export const MAX_IDEMPOTENCY_KEY_CHARS = 255;

/** Visible ASCII (0x21–0x7e) and the space inside, as the draft's sf-string allows. */
const VISIBLE_ASCII = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

/** Why a presented key is unusable, or undefined when it is fine. */
export function idempotencyKeyProblem(key: string): string | undefined {
  if (key.length === 0) return "Idempotency-Key must not be empty";
  if (key.length > MAX_IDEMPOTENCY_KEY_CHARS) return `Idempotency-Key must be at most ${MAX_IDEMPOTENCY_KEY_CHARS} characters`;
  if (!VISIBLE_ASCII.test(key)) return "Idempotency-Key must be visible ASCII (no control characters, no leading or trailing space)";
  return undefined;
}

/**
 * Error codes of a 502 that mean the command may never have reached the agent (its transport failed),
 * as opposed to a 502 carrying the agent's own final answer (`query_failed`, `read_only`, …): the
 * retryable codes of status 502 in the registry.
 */
export const TRANSPORT_ERROR_CODES: ReadonlySet<string> = new Set(ERROR_CODE_LIST.filter((code) => ERROR_CODES[code].retryable && ERROR_CODES[code].status === 502));

/**
 * True when an answer is a transient failure: retrying the same request (with the same key) may
 * succeed, and doing so is safe. A code of ours is transient when the registry calls it retryable (503
 * busy, not ready, shutting down, bus down; 502 naming a transport failure); an answer without one of our
 * codes (a proxy's own page) is transient when it is a 503 or a 502. The hub never stores such an answer as
 * a key's final response, and the CLI retries exactly these.
 */
export function isTransientFailure(status: number, code: string | undefined): boolean {
  if (code !== undefined && isErrorCode(code)) return ERROR_CODES[code].retryable;
  return status === 503 || (status === 502 && code === undefined);
}
