import type { Cancel, SessionCommandFrame, Welcome } from "./hub-messages.js";

/**
 * The frames the hub writes, built here and nowhere else (as `buildResponse` is for the agent's replies),
 * so each field's spelling per protocol version is decided in one place. They return JSON text, ready
 * for the socket.
 */

/** What a command carries, whatever protocol the agent speaks. */
export interface CommandFields {
  correlationId: string;
  sessionId: string;
  kind: "query" | "health";
  collector: string;
  query: string;
  timeoutMs: number;
}

/**
 * A `session_command` for an agent of `protocol`. Protocol 2 carries the correlationId (rule 1); a
 * protocol-1 agent gets no correlationId and the session under both spellings, `sessionId` and the
 * legacy `session_id`, since field agents read either.
 */
export function buildCommand(protocol: number, c: CommandFields): string {
  const frame: SessionCommandFrame & { session_id?: string } =
    protocol >= 2
      ? { type: "session_command", sessionId: c.sessionId, correlationId: c.correlationId, kind: c.kind, collector: c.collector, query: c.query, timeoutMs: c.timeoutMs }
      : { type: "session_command", sessionId: c.sessionId, session_id: c.sessionId, kind: c.kind, collector: c.collector, query: c.query, timeoutMs: c.timeoutMs };
  return JSON.stringify(frame);
}

/** A `cancel`: the caller gave up on the command `correlationId` (deadline passed, caller gone). */
export function buildCancel(correlationId: string): string {
  const frame: Cancel = { type: "cancel", correlationId };
  return JSON.stringify(frame);
}

/** The `welcome` a protocol-2 agent gets once after the upgrade. */
export function buildWelcome(fields: Omit<Welcome, "type">): string {
  const frame: Welcome = { type: "welcome", ...fields };
  return JSON.stringify(frame);
}
