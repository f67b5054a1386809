import { agentAnswerStatus, ERROR_CODES, httpStatus, type AgentErrorCode, type ErrorCode, type HttpErrorCode } from "@uplink/protocol";

/**
 * Base of every error the hub raises on purpose: a wire/REST error code, the HTTP status it maps to,
 * and an optional cause. The REST layer turns any HubError into `{"error": {code, message}}`.
 *
 * The status of a code is the protocol's error registry's (`ERROR_CODES`): build one with `HubError.of`
 * or a class below. The constructor takes a status only to carry an answer whose status was already
 * decided elsewhere (a peer replica's, relayed over the cluster bus).
 */
export class HubError extends Error {
  constructor(
    readonly code: ErrorCode | (string & {}),
    readonly status: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }

  /** The error for `code`, with its registry status and, unless a more specific one is given, its default message. */
  static of(code: HttpErrorCode, message: string = ERROR_CODES[code].message, options?: { cause?: unknown }): HubError {
    return new HubError(code, httpStatus(code), message, options);
  }
}

export class BadRequestError extends HubError {
  constructor(message: string) {
    super("invalid_request", httpStatus("invalid_request"), message);
  }
}

export class UnauthorizedError extends HubError {
  constructor(message = "missing or invalid bearer token") {
    super("unauthorized", httpStatus("unauthorized"), message);
  }
}

export class ForbiddenError extends HubError {
  constructor(message: string) {
    super("forbidden", httpStatus("forbidden"), message);
  }
}

export class NotFoundError extends HubError {
  constructor(message: string) {
    super("not_found", httpStatus("not_found"), message);
  }
}

export class PayloadTooLargeError extends HubError {
  constructor(limit: number) {
    super("payload_too_large", httpStatus("payload_too_large"), `request body exceeds ${limit} bytes`);
  }
}

export class RateLimitedError extends HubError {
  constructor(readonly retryAfterS: number) {
    super("rate_limited", httpStatus("rate_limited"), `too many attempts; retry in ${retryAfterS} s`);
  }
}

export class NotReadyError extends HubError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("not_ready", httpStatus("not_ready"), message, options);
  }
}

/** The agent is not connected. */
export class AgentOfflineError extends HubError {
  constructor(agentId: string) {
    super("agent_offline", httpStatus("agent_offline"), `agent ${agentId} is offline`);
  }
}

/** The agent's socket is too backed up to take more. */
export class AgentBusyError extends HubError {
  constructor(message: string) {
    super("busy", httpStatus("busy"), message);
  }
}

/** The command's deadline passed. */
export class CommandTimeoutError extends HubError {
  constructor(timeoutMs: number) {
    super("timeout", httpStatus("timeout"), `no answer within ${timeoutMs} ms`);
  }
}

/**
 * The caller went away before the answer, or the fan-out it belongs to was cancelled; the command was
 * cancelled on the agent. Nobody reads the status. A signal aborted with one of these passes it on.
 */
export class CommandCancelledError extends HubError {
  constructor(message = "the caller disconnected; the command was cancelled") {
    super("cancelled", httpStatus("cancelled"), message);
  }

  /** The error a command aborted by `signal` fails with: the signal's own reason when it is one of these. */
  static fromSignal(signal: { readonly reason: unknown }): CommandCancelledError {
    return signal.reason instanceof CommandCancelledError ? signal.reason : new CommandCancelledError();
  }
}

/**
 * The agent answered `ok:false` with one of the codes agents may send, with the status of an agent's
 * answer (502, except busy 503 and timeout 504); or its answer was unreadable (`bad_response`, 502).
 */
export class AgentAnsweredError extends HubError {
  constructor(code: AgentErrorCode | "bad_response", message: string) {
    super(code, code === "bad_response" ? httpStatus(code) : agentAnswerStatus(code), message);
  }
}

/** The connection the command was pending on went away: closed, replaced, revoked, or the hub is stopping. */
export class ConnectionLostError extends HubError {
  constructor(code: "agent_disconnected" | "agent_replaced" | "hub_shutting_down", message: string) {
    super(code, httpStatus(code), message);
  }
}

/** Cluster mode: Redis is unreachable, so an agent held by another replica cannot be reached. */
export class BusUnavailableError extends HubError {
  constructor(cause: unknown) {
    super("bus_unavailable", httpStatus("bus_unavailable"), "the cluster bus (Redis) is unreachable", { cause });
  }
}

/** The store failed; the caller is told so rather than being told a write happened. */
export class StoreError extends HubError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("internal", httpStatus("internal"), message, options);
  }
}

/** A request with the same Idempotency-Key is still running and did not finish within this one's deadline. */
export class IdempotencyInProgressError extends HubError {
  constructor(key: string) {
    super("idempotency_in_progress", httpStatus("idempotency_in_progress"), `a request with Idempotency-Key ${JSON.stringify(key)} is still running; retry with the same key`);
  }
}

/** The Idempotency-Key was used with another request or by another token. */
export class IdempotencyMismatchError extends HubError {
  constructor(key: string, why: string) {
    super("idempotency_mismatch", httpStatus("idempotency_mismatch"), `Idempotency-Key ${JSON.stringify(key)} was used ${why}; use a fresh key for a new request`);
  }
}
