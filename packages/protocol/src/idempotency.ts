/**
 * The `Idempotency-Key` request header (the shape of the IETF httpapi draft and of Stripe's API): a client
 * names a POST that starts or creates something, and a repeat of it within the hub's retention window is
 * answered with the first response instead of doing the work again. Shared by the hub (which enforces it)
 * and the operator CLI (which sends one key per invocation and retries with it).
 */

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
 * as opposed to a 502 carrying the agent's own final answer (`query_failed`, `read_only`, …).
 */
export const TRANSPORT_ERROR_CODES: ReadonlySet<string> = new Set(["agent_disconnected", "agent_replaced", "replica_unreachable"]);

/**
 * True when an answer is a transient failure: retrying the same request (with the same key) may
 * succeed, and doing so is safe: 503 (busy, not ready, shutting down, bus down), and a 502 whose code
 * names a transport failure or that has no code of ours (a proxy's own 502). The hub never stores such an
 * answer as a key's final response, and the CLI retries exactly these.
 */
export function isTransientFailure(status: number, code: string | undefined): boolean {
  if (status === 503) return true;
  if (status === 502) return code === undefined || TRANSPORT_ERROR_CODES.has(code);
  return false;
}
