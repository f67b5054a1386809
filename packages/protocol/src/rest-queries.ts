import { z } from "zod";
import { Labels } from "./agent-messages.js";
import { CommandError, IsoTime, QueryFields, QueryStatus } from "./rest.js";
import { HealthResult, QueryResult } from "./results.js";

/** `GET /api/v1/queries` query: newest first, `limit` rows older than `before` (a seq). */
export const HistoryQuery = z.object({
  agentId: z.string().min(1).max(256).optional().meta({ description: "Only commands sent to this agent." }),
  status: QueryStatus.optional().meta({ description: "Only commands in this state." }),
  limit: z.coerce.number().int().min(1).max(500).default(50).meta({ description: "Rows in the page." }),
  before: z.coerce.number().int().positive().optional().meta({ description: "Only rows older than this seq: the `nextBefore` of the previous page." }),
});
export type HistoryQuery = z.input<typeof HistoryQuery>;

/** One row of the query history (the audit). */
export const AuditRow = z.object({
  seq: z.number().int(),
  correlationId: z.string(),
  /** The fan-out this command belongs to, or null for a single-agent query. */
  fanoutId: z.string().nullable(),
  agentId: z.string(),
  requester: z.string(),
  sessionId: z.string(),
  requestId: z.string().nullable(),
  collector: z.string(),
  query: z.string(),
  status: QueryStatus,
  createdAt: IsoTime,
  finishedAt: IsoTime.nullable(),
  durationMs: z.number().nullable(),
  error: CommandError.nullable(),
  /** The result as stored: null on failure, and when it was larger than the audit cap (`resultTruncated`). */
  result: QueryResult.nullable(),
  resultTruncated: z.boolean(),
});
export type AuditRow = z.infer<typeof AuditRow>;

/** `GET /api/v1/queries` 200; `nextBefore` is the cursor of the next page, null on the last. */
export const HistoryPage = z.object({ queries: z.array(AuditRow), nextBefore: z.number().int().nullable() });
export type HistoryPage = z.infer<typeof HistoryPage>;

/** Which agents a fan-out goes to: the union of the listed ids, the agents with all these labels, or all. */
export const FanoutTargets = z
  .object({
    agentIds: z.array(z.string().min(1).max(256)).max(100_000).optional(),
    // At least one label: `{}` would match every agent, which only `all: true` may ask for.
    labels: Labels.refine((labels) => Object.keys(labels).length > 0, { message: "name at least one label (all: true targets every agent)" }).optional(),
    all: z.boolean().optional(),
  })
  .strict()
  .refine((t) => t.all === true || t.agentIds !== undefined || t.labels !== undefined, { message: "name agentIds, labels or all" });
export type FanoutTargets = z.infer<typeof FanoutTargets>;

/** `POST /api/v1/queries` body: one query to many agents. */
export const FanoutRequest = z.object({ ...QueryFields, targets: FanoutTargets });
export type FanoutRequest = z.input<typeof FanoutRequest>;

/** `POST /api/v1/queries` 202: the fan-out's id (its `Location`) and how many agents it went to. */
export const FanoutStarted = z.object({ id: z.string(), targetCount: z.number().int().nonnegative() });
export type FanoutStarted = z.infer<typeof FanoutStarted>;

/** One fan-out target's outcome: a row of the fan-out's view and the data of a stream's `result` event. */
export const TargetResult = z.object({
  agentId: z.string(),
  correlationId: z.string(),
  status: QueryStatus,
  result: QueryResult.nullable(),
  error: CommandError.nullable(),
  durationMs: z.number().nullable(),
  /** Order in which it landed (1, 2, …); the id of its stream event; null while pending. */
  resultSeq: z.number().int().nullable(),
});
export type TargetResult = z.infer<typeof TargetResult>;

/** Targets per state: the data of a stream's `done` event. */
export const FanoutCounts = z.object({
  pending: z.number().int(),
  ok: z.number().int(),
  error: z.number().int(),
  timeout: z.number().int(),
  offline: z.number().int(),
  cancelled: z.number().int().meta({ description: "Targets cancelled by `POST /api/v1/queries/{id}/cancel` while they were pending." }),
});
export type FanoutCounts = z.infer<typeof FanoutCounts>;
export type FanoutStatus = keyof FanoutCounts;

/** The count a target's status goes to: each status has its own. */
export function countedAs(status: QueryStatus): FanoutStatus {
  return status;
}

/** `GET /api/v1/queries/:id` 200 for a fan-out id (`fan_…`). */
export const FanoutView = z.object({
  id: z.string(),
  query: z.string(),
  collector: z.string(),
  requester: z.string(),
  requestId: z.string().nullable(),
  timeoutMs: z.number().int(),
  createdAt: IsoTime,
  finishedAt: IsoTime.nullable(),
  status: z.enum(["running", "done"]),
  targetCount: z.number().int(),
  counts: FanoutCounts,
  targets: z.array(TargetResult),
});
export type FanoutView = z.infer<typeof FanoutView>;

/**
 * `GET /api/v1/queries/:id` query for a fan-out: with `limit`, one page of its targets in agent-id order
 * (byte order), after the agent id `after` (the `nextAfter` of the previous page). Without it, every target.
 */
export const FanoutPageQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(1000).optional().meta({ description: "Targets in the page (1–1000); without it the answer holds every target." }),
    after: z.string().min(1).max(256).optional().meta({ description: "Only targets whose agent id sorts after this one (byte order): the `nextAfter` of the previous page. Needs `limit`." }),
  })
  .refine((q) => q.after === undefined || q.limit !== undefined, { message: "after needs limit", path: ["after"] });
export type FanoutPageQuery = z.input<typeof FanoutPageQuery>;

/**
 * `GET /api/v1/queries/:id?limit=` 200: the fan-out's header and counts (of every target), one page of its
 * targets in agent-id order, and `nextAfter`, the cursor of the next page (null on the last).
 */
export const FanoutPage = FanoutView.extend({ nextAfter: z.string().nullable() });
export type FanoutPage = z.infer<typeof FanoutPage>;

/** The events of `GET /api/v1/queries/:id/stream`, by SSE event name. */
export const FANOUT_STREAM_EVENTS = { result: TargetResult, done: FanoutCounts } as const;

/** `?after=<seq>` of both event streams: replay from after this id (a first connection's starting point). */
export const StreamQuery = z.object({
  after: z.coerce.number().int().nonnegative().optional().meta({ description: "Where a first connection starts: the events after this id are replayed first (0: all that are kept)." }),
});

/** Every hub event carries the time it happened. */
const At = { at: IsoTime };

/** What a differential schedule stores per run (rows added and removed since the agent's last run) or a snapshot one (the rows). */
export const ScheduleMode = z.enum(["snapshot", "differential"]);
export type ScheduleMode = z.infer<typeof ScheduleMode>;

/** One row of a result, column → cell. */
export const ResultRow = z.record(z.string(), z.unknown());

/** A host's standing on a policy: rows → pass, no rows → fail, no answer (error, timeout, offline) → unknown. */
export const PolicyState = z.enum(["pass", "fail", "unknown"]);
export type PolicyState = z.infer<typeof PolicyState>;


/** The hub events of schedules and policies (`GET /api/v1/events`). */
export const SCHEDULE_STREAM_EVENTS = {
  /**
   * A run of a schedule on one agent ended. Snapshot mode carries `rows`; differential mode `added` and
   * `removed` (an agent's first run is a full snapshot: `snapshot: true`, every row added). A failed run
   * carries `error`; runs on offline agents and differential runs with no change are not announced.
   */
  "schedule.result": z.object({
    ...At,
    scheduleId: z.string(),
    scheduleName: z.string(),
    agentId: z.string(),
    runId: z.string(),
    correlationId: z.string(),
    mode: ScheduleMode,
    status: QueryStatus,
    snapshot: z.boolean(),
    added: z.array(ResultRow).optional(),
    removed: z.array(ResultRow).optional(),
    rows: z.array(ResultRow).optional(),
    error: CommandError.optional(),
  }),
  /** A host's state on a policy changed (`from` null: its first check). */
  "policy.changed": z.object({
    ...At,
    policyId: z.string(),
    policyName: z.string(),
    agentId: z.string(),
    from: PolicyState.nullable(),
    to: PolicyState,
    reason: z.string().optional(),
  }),
} as const;


/** The events of `GET /api/v1/events`, by SSE event name; each event's id is its seq in the hub's log. */
export const HUB_STREAM_EVENTS = {
  "agent.connected": z.object({ ...At, agentId: z.string(), protocol: z.number().int(), replicaId: z.string().nullable() }),
  "agent.disconnected": z.object({ ...At, agentId: z.string(), replicaId: z.string().nullable(), replacedBy: z.string().optional() }),
  "agent.health_changed": z.object({ ...At, agentId: z.string(), from: z.string().nullable(), to: z.string(), health: HealthResult.nullable() }),
  /** A single-agent query (correlationId) or a fan-out (fanoutId) ended; `code` names a close-out. */
  "query.done": z.union([
    z.object({ ...At, correlationId: z.string(), agentId: z.string(), status: QueryStatus, durationMs: z.number().nullable(), code: z.string().optional() }),
    z.object({ ...At, fanoutId: z.string(), targetCount: z.number().int(), counts: FanoutCounts, code: z.string().optional() }),
  ]),
  ...SCHEDULE_STREAM_EVENTS,
  /** What a reconnecting client missed was pruned: the replay resumes at `resumedAt`. */
  gap: z.object({ lastEventId: z.number().int(), resumedAt: z.number().int(), kept: z.number().int() }),
} as const;
