import type { ErrorCode } from "@uplink/protocol";

/**
 * Base of every error the hub raises on purpose: a wire/REST error code, the HTTP status it maps to,
 * and an optional cause. The REST layer turns any HubError into `{"error": {code, message}}`.
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
}

export class BadRequestError extends HubError {
  constructor(message: string) {
    super("invalid_request", 400, message);
  }
}

export class UnauthorizedError extends HubError {
  constructor(message = "missing or invalid bearer token") {
    super("unauthorized", 401, message);
  }
}

export class ForbiddenError extends HubError {
  constructor(message: string) {
    super("forbidden", 403, message);
  }
}

export class NotFoundError extends HubError {
  constructor(message: string) {
    super("not_found", 404, message);
  }
}

export class PayloadTooLargeError extends HubError {
  constructor(limit: number) {
    super("payload_too_large", 413, `request body exceeds ${limit} bytes`);
  }
}

export class RateLimitedError extends HubError {
  constructor(readonly retryAfterS: number) {
    super("rate_limited", 429, `too many attempts; retry in ${retryAfterS} s`);
  }
}

export class NotReadyError extends HubError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("not_ready", 503, message, options);
  }
}

/** The agent is not connected (409). */
export class AgentOfflineError extends HubError {
  constructor(agentId: string) {
    super("agent_offline", 409, `agent ${agentId} is offline`);
  }
}

/** The agent answered `busy`, or its socket is too backed up to take more (503). */
export class AgentBusyError extends HubError {
  constructor(message: string) {
    super("busy", 503, message);
  }
}

/** The command's deadline passed (504). */
export class CommandTimeoutError extends HubError {
  constructor(timeoutMs: number) {
    super("timeout", 504, `no answer within ${timeoutMs} ms`);
  }
}

/** The caller went away before the answer; the command was cancelled on the agent. Nobody reads the status. */
export class CommandCancelledError extends HubError {
  constructor() {
    super("cancelled", 502, "the caller disconnected; the command was cancelled");
  }
}

/** The agent answered `ok:false` with its own code (502). */
export class AgentAnsweredError extends HubError {
  constructor(code: string, message: string) {
    super(code, 502, message);
  }
}

/** The connection the command was pending on went away: closed, replaced, revoked, or the hub is stopping. */
export class ConnectionLostError extends HubError {
  constructor(code: "agent_disconnected" | "agent_replaced" | "hub_shutting_down", message: string) {
    super(code, code === "hub_shutting_down" ? 503 : 502, message);
  }
}

/** The store failed; the caller is told so rather than being told a write happened. */
export class StoreError extends HubError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("internal", 500, message, options);
  }
}

/** A request with the same Idempotency-Key is still running and did not finish within this one's deadline (409). */
export class IdempotencyInProgressError extends HubError {
  constructor(key: string) {
    super("idempotency_in_progress", 409, `a request with Idempotency-Key ${JSON.stringify(key)} is still running; retry with the same key`);
  }
}

/** The Idempotency-Key was used with another request or by another token (422). */
export class IdempotencyMismatchError extends HubError {
  constructor(key: string, why: string) {
    super("idempotency_mismatch", 422, `Idempotency-Key ${JSON.stringify(key)} was used ${why}; use a fresh key for a new request`);
  }
}
