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
  internal: "An unexpected failure inside the hub or the agent.",
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
} as const;
export type ErrorCode = keyof typeof ERROR_CODES;
export const ERROR_CODE_LIST = Object.keys(ERROR_CODES) as ErrorCode[];

/** Default limits (DESIGN §8). Each is configurable. */
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
