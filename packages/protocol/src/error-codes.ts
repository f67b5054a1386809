/**
 * The error registry: every error code of Uplink, on the wire (`session_response.code`) and in REST error
 * bodies (`error.code`), with everything the rest of the code derives from it — the HTTP status the hub
 * answers it with, whether repeating the request is safe and may succeed, who raises it, and its default
 * message. The hub's errors and upgrade refusals, the retry decisions of the hub and the CLI, the CLI's exit
 * codes and the table in docs/protocol.md all read it (a test keeps the docs in step).
 */

/**
 * Where a code comes from:
 * - `agent`: an agent may answer a command with it (`AGENT_ERROR_CODES`); the hub raises some of these
 *   itself too (`busy` when a socket is backed up, `timeout` at a deadline, `cancelled`, `internal`);
 * - `hub-command`: the hub fails a command with it;
 * - `rest`: the hub refuses an HTTP request with it (the REST API, or the agent endpoint before an upgrade);
 * - `audit`: recorded in the audit only, for work a hub left open when it died; never an HTTP answer.
 */
export type ErrorSource = "agent" | "hub-command" | "rest" | "audit";

export interface ErrorSpec {
  /** The HTTP status the hub answers the code with; null for a code that is never an HTTP answer. */
  readonly status: number | null;
  /** The status when an agent answered the code, where it differs from `status` (`internal`: 502, not 500). */
  readonly agentStatus?: number;
  /**
   * True when the same request may be repeated safely and may succeed: the command never reached the
   * agent, or its transport failed, or the hub was momentarily unable to take it. The hub never keeps such
   * an answer as an Idempotency-Key's final response, and the CLI retries exactly these.
   */
  readonly retryable: boolean;
  readonly raisedBy: ErrorSource;
  /** The operator-facing one-liner: what the code means, used when a raiser has nothing more specific. */
  readonly message: string;
}

const agent = (status: number, message: string, retryable = false) => ({ status, message, retryable, raisedBy: "agent" }) as const;
const command = (status: number, message: string, retryable = false) => ({ status, message, retryable, raisedBy: "hub-command" }) as const;
const rest = (status: number, message: string, retryable = false) => ({ status, message, retryable, raisedBy: "rest" }) as const;
const audit = (message: string) => ({ status: null, message, retryable: false, raisedBy: "audit" }) as const;
const RETRYABLE = true;

export const ERROR_CODES = {
  busy: agent(503, "The agent already runs its maxInflight queries; retry later.", RETRYABLE),
  timeout: agent(504, "The command's deadline passed before an answer arrived."),
  cancelled: agent(502, "The caller gave up and the hub cancelled the command (a REST caller disconnected, or its fan-out was cancelled)."),
  bad_command: agent(502, "The command frame failed its schema (missing or malformed fields)."),
  empty_query: agent(502, "The query text is empty."),
  unsupported_query: agent(502, "The collector does not answer this query."),
  unknown_collector: agent(502, "No collector of that name exists on the agent."),
  query_failed: agent(502, "The query could not be evaluated (the message carries the engine's reason)."),
  read_only: agent(502, "The statement would write, attach, change a pragma or load an extension; only reads are allowed."),
  resource_limit: agent(502, "The query went past a bound of the agent's query worker (memory, or SQLite's largest string or blob); the worker was replaced."),
  internal: { ...agent(500, "An unexpected failure inside the hub or the agent."), agentStatus: 502 },
  // What the hub reads a protocol-1 error without a code as (legacy-reply.ts).
  agent_error: agent(502, "The agent answered an error without a code (a protocol-1 agent); the message is the agent's."),

  bad_response: command(502, "The agent's response failed its schema; the command it named fails with this code."),
  agent_offline: command(409, "The agent is not connected to any hub replica."),
  agent_disconnected: command(502, "The agent's connection closed while the command was pending.", RETRYABLE),
  agent_replaced: command(502, "A newer connection of the same agent replaced the one the command was sent on.", RETRYABLE),
  hub_shutting_down: command(503, "The hub is stopping; pending commands fail at once.", RETRYABLE),
  replica_unreachable: command(502, "The hub replica holding the agent's socket is gone or did not take the command.", RETRYABLE),
  bus_unavailable: command(503, "The cluster bus (Redis) is unreachable, so an agent held by another replica cannot be reached.", RETRYABLE),

  hub_restarted: audit("The hub stopped (crash, kill) before the command ended and closed it out when it started again; the outcome is unknown."),
  replica_lost: audit("The cluster replica running the command died before it ended; a surviving replica closed it out; the outcome is unknown."),

  unauthorized: rest(401, "The bearer token is missing, unknown, expired or revoked."),
  forbidden: rest(403, "The token's scope does not allow this call."),
  not_found: rest(404, "No such resource."),
  invalid_request: rest(400, "The request body or parameters failed validation."),
  payload_too_large: rest(413, "The request body exceeds the hub's limit."),
  unsupported_media_type: rest(415, "The request body must be application/json."),
  method_not_allowed: rest(405, "The path exists but not with this method."),
  csrf_failed: rest(403, "A state-changing request authenticated by the session cookie lacks the session's X-CSRF-Token."),
  name_taken: rest(409, "Another schedule (or another policy) already has this name."),
  rate_limited: rest(429, "Too many attempts; retry after the time in Retry-After."),
  fanout_finished: rest(409, "The fan-out already ended (every target answered, failed or was cancelled); there is nothing left to cancel."),
  not_ready: rest(503, "The hub's store (or bus) is not ready.", RETRYABLE),
  // Idempotency-Key (REST POSTs that start or create something).
  idempotency_in_progress: rest(409, "A request with this Idempotency-Key is still running and did not finish within this request's deadline; retry with the same key."),
  idempotency_mismatch: rest(422, "This Idempotency-Key was used with another body, method, path or token; use a fresh key for a new request."),
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;
/** The codes that are HTTP answers (all but the audit-only ones). */
export type HttpErrorCode = { [C in ErrorCode]: (typeof ERROR_CODES)[C]["status"] extends number ? C : never }[ErrorCode];

/** The codes an agent may answer a command with (`raisedBy: "agent"`). */
export type AgentErrorCode = { [C in ErrorCode]: (typeof ERROR_CODES)[C]["raisedBy"] extends "agent" ? C : never }[ErrorCode];

export const ERROR_CODE_LIST = Object.keys(ERROR_CODES) as ErrorCode[];

/** True when `code` is in the registry (a code of this version of Uplink). */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}

/** The HTTP status the hub answers `code` with when it raises the code itself. */
export function httpStatus(code: HttpErrorCode): number {
  return ERROR_CODES[code].status;
}

/** The HTTP status of `code` when an agent answered it: 502, except `busy` (503) and `timeout` (504). */
export function agentAnswerStatus(code: AgentErrorCode): number {
  const spec: ErrorSpec = ERROR_CODES[code];
  return spec.agentStatus ?? ERROR_CODES[code].status;
}

/**
 * The codes an agent may answer a command with. The hub passes these on to the caller; any other code
 * in a `session_response` (one the hub alone raises, like `unauthorized`, or one no list has) is
 * reported as `bad_response`, so a host can neither invent error codes nor impersonate the hub's own.
 */
export const AGENT_ERROR_CODES: ReadonlySet<string> = new Set(ERROR_CODE_LIST.filter((code) => ERROR_CODES[code].raisedBy === "agent"));

/** True when an agent may answer a command with `code`. */
export function isAgentErrorCode(code: string): code is AgentErrorCode {
  return AGENT_ERROR_CODES.has(code);
}
