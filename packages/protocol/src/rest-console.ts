import { z } from "zod";
import { HealthStatus } from "./results.js";
import { IsoTime } from "./rest.js";
import { Scope } from "./rest-tokens.js";

/*
 * The REST shapes the web console needs beyond the CLI's: sessions (an API token exchanged for an
 * HttpOnly cookie), an agent's recent health, and the schema of the agents' tables.
 */

/** `POST /api/v1/session` body: an API token (never an enrollment token). */
export const SessionRequest = z.object({ token: z.string().min(1).max(512) }).strict();
export type SessionRequest = z.input<typeof SessionRequest>;

/**
 * `POST /api/v1/session` 201 and `GET /api/v1/session` 200: who the session acts as (its token's name and
 * scope), the value every state-changing request made with the cookie sends as `X-CSRF-Token`, and when
 * the session ends.
 */
export const SessionView = z.object({ name: z.string(), scope: Scope, csrfToken: z.string(), expiresAt: IsoTime });
export type SessionView = z.infer<typeof SessionView>;

/** One health sample of an agent: what one presence flush wrote of its last health poll. */
export const HealthSample = z.object({
  at: IsoTime,
  status: HealthStatus,
  load1: z.number(),
  memFreeBytes: z.number(),
  memTotalBytes: z.number(),
  inflight: z.number().int(),
});
export type HealthSample = z.infer<typeof HealthSample>;

/** `GET /api/v1/agents/:id/health` 200: the agent's recent samples, oldest first. */
export const AgentHealthHistory = z.object({ samples: z.array(HealthSample) });
export type AgentHealthHistory = z.infer<typeof AgentHealthHistory>;

/** `GET /api/v1/schema` query. */
export const SchemaQuery = z.object({
  agentId: z.string().min(1).max(256).optional().meta({ description: "Learn the schema from this agent (it must be online); default: an online agent of the newest version." }),
});
export type SchemaQuery = z.input<typeof SchemaQuery>;

/** A column of a host table; `type` is the declared type, empty when the table declares none. */
export const SchemaColumn = z.object({ name: z.string(), type: z.string() });
export const SchemaTable = z.object({ name: z.string(), columns: z.array(SchemaColumn) });

/** `GET /api/v1/schema` 200: the tables an agent of `agentVersion` answers, as the hub learned them from `agentId`. */
export const HubSchema = z.object({ agentId: z.string(), agentVersion: z.string().nullable(), tables: z.array(SchemaTable) });
export type HubSchema = z.infer<typeof HubSchema>;
