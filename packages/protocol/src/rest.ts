import { z } from "zod";
import { Labels } from "./agent-messages.js";
import { MAX_QUERY_CHARS, MAX_TIMEOUT_MS, RESERVED_SESSION_PREFIXES } from "./constants.js";
import { ERROR_CODE_LIST } from "./error-codes.js";
import { SessionId } from "./hub-messages.js";
import { HealthResult, QueryResult } from "./results.js";

/*
 * The REST API's shapes, declared once: the hub validates requests and types its answers with them, the
 * OpenAPI description (openapi.ts) is generated from them, and the CLI and the tests read answers by them.
 * This file: the shared pieces, errors, the system endpoints, enrollment and agents; queries, events and
 * tokens are in rest-queries.ts and rest-tokens.ts.
 */

/** The enrollment endpoint an agent posts to with an enrollment token. */
export const ENROLL_PATH = "/api/v1/enroll";

/** A time as the REST API shows it: ISO 8601 in UTC. */
export const IsoTime = z.iso.datetime();

/** A label map as the API answers it (requests are checked by {@link Labels}). */
export const LabelMap = z.record(z.string(), z.string());

/** Every REST error body; `code` is one of the registry's codes (constants.ts). */
export const ErrorBody = z.object({ error: z.object({ code: z.enum(ERROR_CODE_LIST), message: z.string() }) });
export type ErrorBody = z.infer<typeof ErrorBody>;

/** The error of a finished command, as its audit row and its fan-out target show it. */
export const CommandError = z.object({ code: z.string(), message: z.string() });
export type CommandError = z.infer<typeof CommandError>;

/**
 * Where a command stands: `pending` until it ends in one of the others. `cancelled`: the caller went away
 * before the answer, and the hub cancelled the command on the agent.
 */
export const QueryStatus = z.enum(["pending", "ok", "error", "timeout", "offline", "cancelled"]);
export type QueryStatus = z.infer<typeof QueryStatus>;

/** `GET /healthz` 200. */
export const HealthzResponse = z.object({ status: z.literal("ok"), hubId: z.string() });
export type HealthzResponse = z.infer<typeof HealthzResponse>;

/** `GET /readyz` 200 (503 with an ErrorBody when the store or the bus is down). */
export const ReadyzResponse = z.object({ status: z.literal("ready"), hubId: z.string() });
export type ReadyzResponse = z.infer<typeof ReadyzResponse>;

/** `POST /api/v1/enroll` body. */
export const EnrollRequest = z.object({
  token: z.string().min(1).max(512),
  hostname: z.string().min(1).max(255),
  labels: Labels.default({}),
});
export type EnrollRequest = z.input<typeof EnrollRequest>;

/** `POST /api/v1/enroll` 201 body: `agentKey` is the whole credential `<agentId>.<secret>`, shown once. */
export const EnrollResponse = z
  .object({ agentId: z.string().min(1), agentKey: z.string().min(3) })
  .refine((r) => r.agentKey.startsWith(`${r.agentId}.`), { message: "agentKey must be <agentId>.<secret>", path: ["agentKey"] });
export type EnrollResponse = z.infer<typeof EnrollResponse>;

export const AgentStatus = z.enum(["online", "offline", "unresponsive"]);
export type AgentStatus = z.infer<typeof AgentStatus>;

/** An agent as the REST API shows it (never its key hash). */
export const AgentView = z.object({
  id: z.string(),
  hostname: z.string(),
  /** The operator's labels: the only ones targeting reads. */
  labels: LabelMap,
  /** What the agent reported of itself: shown, never targeted. */
  reportedLabels: LabelMap,
  status: AgentStatus,
  protocol: z.number().int().nullable(),
  agentVersion: z.string().nullable(),
  platform: z.string().nullable(),
  arch: z.string().nullable(),
  enrolledAt: IsoTime,
  connectedAt: IsoTime.nullable(),
  lastSeenAt: IsoTime.nullable(),
  lastHealth: HealthResult.nullable(),
  replicaId: z.string().nullable(),
  /** Legacy traits its latest connection showed; [] for the current shape; null until a reply was read. */
  legacyShapes: z.array(z.string()).nullable(),
});
export type AgentView = z.infer<typeof AgentView>;

/** The most agents one page of `GET /api/v1/agents` holds. */
export const MAX_AGENT_PAGE = 1000;

/**
 * `GET /api/v1/agents` query: `?status=` and repeatable `?label=k=v` (all must match); with `?limit=`, one
 * page of the list (keyset: `?after=` is the `nextAfter` of the previous page).
 */
export const AgentListQuery = z.object({
  status: AgentStatus.optional().meta({ description: "Only agents in this status." }),
  label: z
    .array(z.string().regex(/^[^=]+=.*$/, "label filters are k=v"))
    .default([])
    .meta({ description: "`k=v`, repeatable: only agents with every one of these labels (the operator's)." }),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_AGENT_PAGE)
    .optional()
    .meta({ description: "Agents in the page (by hostname, then id); the answer then carries `nextAfter` and `counts`. Without it, every agent that matches." }),
  after: z
    .string()
    .min(1)
    .max(4096)
    .optional()
    .meta({ description: "Only agents after this place in the list: the `nextAfter` of the previous page (opaque). Needs `limit`." }),
});
export type AgentListQuery = z.input<typeof AgentListQuery>;

/** Agents per status. */
export const AgentCounts = z.object({ online: z.number().int(), unresponsive: z.number().int(), offline: z.number().int() });
export type AgentCounts = z.infer<typeof AgentCounts>;

/** `GET /api/v1/agents` 200. */
export const AgentList = z.object({
  agents: z.array(AgentView),
  nextAfter: z
    .string()
    .nullable()
    .optional()
    .meta({ description: "Paged (`limit`): the `after` of the next page; null on the last page." }),
  counts: AgentCounts.optional().meta({
    description: "Paged (`limit`): agents per status with the same label filter (whatever `status` and the page), as the store records them.",
  }),
});
export type AgentList = z.infer<typeof AgentList>;

/** `PATCH /api/v1/agents/:id` body: the operator's labels, replaced whole. */
export const AgentPatchRequest = z.object({ labels: Labels }).strict();
export type AgentPatchRequest = z.input<typeof AgentPatchRequest>;

/** The text, collector and deadline of a query, to one agent or many. */
export const QueryFields = {
  query: z.string().trim().min(1, "query must not be empty").max(MAX_QUERY_CHARS),
  collector: z.string().min(1).max(64).default("host"),
  timeoutMs: z.number().int().positive().max(MAX_TIMEOUT_MS).optional(),
};

/** `POST /api/v1/agents/:id/query` body. */
export const AgentQueryRequest = z.object({
  ...QueryFields,
  sessionId: SessionId.refine((id) => !RESERVED_SESSION_PREFIXES.some((p) => id.startsWith(p)), {
    message: `session ids starting with ${RESERVED_SESSION_PREFIXES.map((p) => `"${p}"`).join(" or ")} are reserved for the hub`,
  }).optional(),
});
export type AgentQueryRequest = z.input<typeof AgentQueryRequest>;

/** `POST /api/v1/agents/:id/query` 200. */
export const QueryAnswer = z.object({
  correlationId: z.string(),
  agentId: z.string(),
  result: QueryResult,
  durationMs: z.number().nonnegative(),
});
export type QueryAnswer = z.infer<typeof QueryAnswer>;
