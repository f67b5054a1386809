import type { z } from "zod";
import { AGENT_TO_HUB_SCHEMAS, type AgentToHub } from "./agent-messages.js";
import { HUB_TO_AGENT_SCHEMAS, type HubToAgent } from "./hub-messages.js";
import { checkFrameShape } from "./frame-shape.js";

/**
 * The outcome of parsing one text frame. `raw` is the decoded JSON when it was JSON at all; for a frame
 * refused unparsed for its shape (`checkFrameShape`), only its top-level `type` and ids, so that the
 * command it names can still be answered.
 */
export type ParsedFrame<M> = { ok: true; message: M } | { ok: false; error: string; raw?: unknown };

/** One handler per message type: a type without a handler is a compile error. */
export type DispatchTable<M extends { type: string }, R = void> = {
  [T in M["type"]]: (message: Extract<M, { type: T }>) => R;
};

function parseWith<M>(schemas: Record<string, z.ZodType>, text: string): ParsedFrame<M> {
  let raw: unknown;
  const refusal = checkFrameShape(text);
  if (refusal !== undefined) return { ok: false, error: `frame ${refusal.error}`, raw: refusal.fields };
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, error: "frame is not JSON" };
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    return { ok: false, error: "frame is not a JSON object", raw };
  }
  const type = (raw as { type?: unknown }).type;
  const schema = typeof type === "string" && Object.hasOwn(schemas, type) ? schemas[type] : undefined;
  if (schema === undefined) return { ok: false, error: `unknown frame type ${JSON.stringify(type)}`, raw };
  const parsed = schema.safeParse(raw);
  if (!parsed.success) return { ok: false, error: `${type}: ${describeIssues(parsed.error)}`, raw };
  return { ok: true, message: parsed.data as M };
}

/** Parses a frame the agent received. Never throws. */
export function parseHubToAgent(text: string): ParsedFrame<HubToAgent> {
  return parseWith<HubToAgent>(HUB_TO_AGENT_SCHEMAS, text);
}

/** Parses a frame the hub received. Never throws. */
export function parseAgentToHub(text: string): ParsedFrame<AgentToHub> {
  return parseWith<AgentToHub>(AGENT_TO_HUB_SCHEMAS, text);
}

/** A one-line summary of a zod error: `path: message; path: message`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => (i.path.length > 0 ? `${i.path.join(".")}: ${i.message}` : i.message))
    .join("; ");
}
