/**
 * Every wire constant of Uplink, declared once. The hub, the agent and any console import these;
 * nothing else spells a close code or a default limit (error codes: error-codes.ts).
 */

/** The protocol version this code speaks. */
export const PROTOCOL_VERSION = 2;
/** The oldest protocol version a hub still accepts (legacy agents without correlationId). */
export const MIN_PROTOCOL_VERSION = 1;
/** Upgrade header naming the agent's protocol version; absent means 1. */
export const PROTOCOL_HEADER = "uplink-protocol";
/** The agent endpoint on the hub's HTTP port. */
export const AGENT_PATH = "/v1/agent";
/**
 * HTTP status of an upgrade refused for its `Uplink-Protocol` version (426 Upgrade Required, naming the
 * hub's version in that header); the error code is `invalid_request`, whose REST status is 400.
 */
export const UNSUPPORTED_PROTOCOL_STATUS = 426;

/** Capability every protocol-2 agent announces in `hello`. */
export const CAPABILITY_CORRELATION_ID = "correlation-id";

/** The session of the hub's background health polls; never shared with operators' sessions (rule 4). */
export const HEALTH_SESSION_ID = "uplink-health";
/** The session of the hub's schema introspection queries (`GET /api/v1/schema`); reserved like health polls. */
export const SCHEMA_SESSION_ID = "uplink-schema";
/** The cookie holding a console session (`POST /api/v1/session`): `<sessionId>.<secret>`. */
export const SESSION_COOKIE = "uplink_session";
/** The header a request authenticated by the session cookie sends its session's csrfToken in. */
export const CSRF_HEADER = "x-csrf-token";
/** Health samples kept per agent (one per presence flush), oldest dropped first. */
export const MAX_HEALTH_SAMPLES = 60;
/**
 * Session id prefixes the hub keeps for itself (health polls, fan-outs): an operator query naming one is
 * refused, so it can never queue behind or in front of the hub's own commands on a legacy agent (rule 4).
 */
export const RESERVED_SESSION_PREFIXES = ["uplink-", "fan_", "sch_", "pol_"] as const;

/** WebSocket close codes. 4xxx mirror HTTP statuses. */
export const CloseCode = {
  /** Hub shutting down (SIGTERM): it is expected back, so the agent retries on the short restart schedule (RECONNECT_RESTART_*). */
  GOING_AWAY: 1001,
  /** Protocol violation budget exceeded. */
  POLICY_VIOLATION: 1008,
  /** Frame larger than maxPayload. */
  TOO_BIG: 1009,
  /** Service restart, as a proxy in front of the hub may send it: the agent treats it as {@link CloseCode.GOING_AWAY}. */
  SERVICE_RESTART: 1012,
  /** Credential missing or wrong. */
  UNAUTHORIZED: 4401,
  /** Agent revoked. */
  REVOKED: 4403,
  /** Replaced by a newer connection of the same agent. */
  REPLACED: 4409,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

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
/**
 * After the hub closed with 1001 (or 1012) it is restarting, not failing: for RECONNECT_RESTART_WINDOW_MS the
 * backoff starts over from its base and grows to RECONNECT_RESTART_CAP_MS at most (not RECONNECT_CAP_MS), so
 * the fleet is back within about that long of the new hub listening instead of waiting out backoffs grown
 * while no hub listened; and a 503 (the new hub pacing its handshakes) is no failed attempt: its Retry-After
 * is the wait. Past the window (the hub did not come back) the usual backoff carries on.
 */
export const RECONNECT_RESTART_CAP_MS = 8_000;
export const RECONNECT_RESTART_WINDOW_MS = 60_000;
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
