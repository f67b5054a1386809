/**
 * Every wire constant of Uplink, declared once. The hub, the agent and any console import these;
 * nothing else spells a close code, an error code or a default limit.
 */

/** The protocol version this code speaks. */
export const PROTOCOL_VERSION = 2;
/** The oldest protocol version a hub still accepts (legacy agents without correlationId). */
export const MIN_PROTOCOL_VERSION = 1;
/** Upgrade header naming the agent's protocol version; absent means 1. */
export const PROTOCOL_HEADER = "uplink-protocol";
/** The agent endpoint on the hub's HTTP port. */
export const AGENT_PATH = "/v1/agent";

/** Capability every protocol-2 agent announces in `hello`. */
export const CAPABILITY_CORRELATION_ID = "correlation-id";

/** The session of the hub's background health polls; never shared with operators' sessions (rule 4). */
export const HEALTH_SESSION_ID = "uplink-health";
/**
 * Session id prefixes the hub keeps for itself (health polls, fan-outs): an operator query naming one is
 * refused, so it can never queue behind or in front of the hub's own commands on a legacy agent (rule 4).
 */
export const RESERVED_SESSION_PREFIXES = ["uplink-", "fan_"] as const;

/** WebSocket close codes. 4xxx mirror HTTP statuses. */
export const CloseCode = {
  /** Hub shutting down. */
  GOING_AWAY: 1001,
  /** Protocol violation budget exceeded. */
  POLICY_VIOLATION: 1008,
  /** Frame larger than maxPayload. */
  TOO_BIG: 1009,
  /** Credential missing or wrong. */
  UNAUTHORIZED: 4401,
  /** Agent revoked. */
  REVOKED: 4403,
  /** Replaced by a newer connection of the same agent. */
  REPLACED: 4409,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/**
 * Error codes, on the wire (`session_response.code`) and in REST error bodies (`error.code`).
 * The description of each is the text the docs show; a test keeps the docs in step.
 */
export const ERROR_CODES = {
  // Answered by the agent in a session_response.
  busy: "The agent already runs its maxInflight queries; retry later.",
  timeout: "The command's deadline passed before an answer arrived.",
  cancelled: "The caller gave up and the hub cancelled the command.",
  bad_command: "The command frame failed its schema (missing or malformed fields).",
  bad_response: "The agent's response failed its schema; the command it named fails with this code.",
  empty_query: "The query text is empty.",
  unsupported_query: "The collector does not answer this query.",
  unknown_collector: "No collector of that name exists on the agent.",
  query_failed: "The query could not be evaluated (the message carries the engine's reason).",
  read_only: "The statement would write, attach, change a pragma or load an extension; only reads are allowed.",
  resource_limit: "The query went past a bound of the agent's query worker (memory, or SQLite's largest string or blob); the worker was replaced.",
  internal: "An unexpected failure inside the hub or the agent.",
  agent_error: "The agent answered an error without a code (a protocol-1 agent); the message is the agent's.",
  // Raised by the hub for a command.
  agent_offline: "The agent is not connected to any hub replica.",
  agent_disconnected: "The agent's connection closed while the command was pending.",
  agent_replaced: "A newer connection of the same agent replaced the one the command was sent on.",
  hub_shutting_down: "The hub is stopping; pending commands fail at once.",
  replica_unreachable: "The hub replica holding the agent's socket is gone or did not take the command.",
  bus_unavailable: "The cluster bus (Redis) is unreachable, so an agent held by another replica cannot be reached.",
  // Recorded in the audit (and fan-out targets) for work a hub left open when it died.
  hub_restarted: "The hub stopped (crash, kill) before the command ended and closed it out when it started again; the outcome is unknown.",
  replica_lost: "The cluster replica running the command died before it ended; a surviving replica closed it out; the outcome is unknown.",
  // REST.
  unauthorized: "The bearer token is missing, unknown, expired or revoked.",
  forbidden: "The token's scope does not allow this call.",
  not_found: "No such resource.",
  invalid_request: "The request body or parameters failed validation.",
  payload_too_large: "The request body exceeds the hub's limit.",
  unsupported_media_type: "The request body must be application/json.",
  method_not_allowed: "The path exists but not with this method.",
  rate_limited: "Too many attempts; retry after the time in Retry-After.",
  not_ready: "The hub's store (or bus) is not ready.",
  // Idempotency-Key (REST POSTs that start or create something).
  idempotency_in_progress: "A request with this Idempotency-Key is still running and did not finish within this request's deadline; retry with the same key.",
  idempotency_mismatch: "This Idempotency-Key was used with another body, method, path or token; use a fresh key for a new request.",
} as const;
export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * The codes an agent may answer a command with. The hub passes these on to the caller; any other code
 * in a `session_response` (one the hub alone raises, like `unauthorized`, or one no list has) is
 * reported as `bad_response`, so a host can neither invent error codes nor impersonate the hub's own.
 */
export const AGENT_ERROR_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  "busy",
  "timeout",
  "cancelled",
  "bad_command",
  "empty_query",
  "unsupported_query",
  "unknown_collector",
  "query_failed",
  "read_only",
  "resource_limit",
  "internal",
  // What the hub reads a protocol-1 error without a code as (legacy-reply.ts).
  "agent_error",
]);
export const ERROR_CODE_LIST = Object.keys(ERROR_CODES) as ErrorCode[];

/** Default limits (docs/architecture.md, "Limits"). Each is configurable. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;
export const DEFAULT_MAX_RESULT_ROWS = 10_000;
export const DEFAULT_MAX_RESULT_BYTES = 4 * 1024 * 1024;
export const DEFAULT_MAX_INFLIGHT = 4;
export const DEFAULT_QUERY_TIMEOUT_MS = 30_000;
export const DEFAULT_HEALTH_INTERVAL_MS = 15_000;
export const DEFAULT_PING_INTERVAL_MS = 30_000;
/** The agent reconnects when no ping arrived for this long (rule 11). */
export const DEFAULT_AGENT_PING_TIMEOUT_MS = 75_000;
/** A connection with more than this many violations within the window is closed with 1008 (rule 10). */
export const VIOLATION_BUDGET = 10;
export const VIOLATION_WINDOW_MS = 60_000;
/** Reconnect backoff (rule 12). */
export const RECONNECT_BASE_MS = 1_000;
export const RECONNECT_CAP_MS = 60_000;
export const RECONNECT_STABLE_MS = 30_000;
/** Upper bounds the schemas enforce on field sizes. */
export const MAX_QUERY_CHARS = 64 * 1024;
export const MAX_ID_CHARS = 256;
/** Longest `error` message of a `session_response`; `buildResponse` cuts longer ones so the hub accepts them. */
export const MAX_ERROR_CHARS = 64 * 1024;
export const MAX_TIMEOUT_MS = 10 * 60_000;
/** Largest health result the hub accepts, as JSON; a larger one is a violation and is never stored. */
export const MAX_HEALTH_RESULT_BYTES = 16 * 1024;
/**
 * The deepest nesting of objects and arrays a frame may have (a query reply needs 4: frame, result, rows,
 * row); deeper frames are refused unparsed, since V8 parses deep nesting slowly enough to stall a process.
 */
export const MAX_FRAME_DEPTH = 32;
/** The most object keys a frame may have in all; more are refused unparsed, for the same reason (rows are arrays). */
export const MAX_FRAME_KEYS = 10_000;
