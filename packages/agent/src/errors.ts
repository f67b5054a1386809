import type { ErrorCode } from "@uplink/protocol";

/** Base of every error the agent raises on purpose: a wire error code, a message, and an optional cause. */
export class AgentError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A collector refused or failed a query; `code` goes on the wire as is. */
export class CollectorError extends AgentError {}

/** The hub refused the agent's credential (401) or revoked it (403): the daemon stops instead of retrying. */
export class CredentialRejectedError extends AgentError {
  constructor(
    readonly status: 401 | 403,
    message: string,
  ) {
    super(status === 401 ? "unauthorized" : "forbidden", message);
  }
}

/** The state file is missing, unreadable or malformed. */
export class StateFileError extends AgentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("invalid_request", message, options);
  }
}

/** Maps anything thrown inside a command to its wire code and message. */
export function toWireError(err: unknown): { code: ErrorCode; error: string } {
  if (err instanceof AgentError) return { code: err.code, error: err.message };
  return { code: "internal", error: err instanceof Error ? err.message : String(err) };
}

/** A setting failed validation at start-up; `setting` names the flag and its environment variable. */
export class ConfigError extends AgentError {
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super("invalid_request", `invalid ${setting}: ${message}`);
  }
}

/** The hub refused the enrollment, answered something unreadable, or could not be reached. */
export class EnrollError extends AgentError {}

/** `service install` could not write the systemd unit. */
export class ServiceInstallError extends AgentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("internal", message, options);
  }
}
