import { z } from "zod";
import { MAX_QUERY_CHARS, MAX_TIMEOUT_MS } from "./constants.js";
import { DURATION_EXAMPLES, parseDuration } from "./duration.js";
import { CommandError, IsoTime, QueryStatus } from "./rest.js";
import { FanoutTargets, PolicyState, ResultRow, ScheduleMode } from "./rest-queries.js";

/** The shortest interval a schedule or a policy may run at. */
export const MIN_SCHEDULE_INTERVAL_MS = 1000;
/** The longest interval (one week). */
export const MAX_SCHEDULE_INTERVAL_MS = 7 * 86_400_000;

/** An interval as the hub's duration settings take it (`"30s"`, `"5m"`, `1500`), in milliseconds once parsed. */
export const Interval = z
  .union([z.string().max(32), z.number()])
  .transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined) {
      ctx.addIssue({ code: "custom", message: `interval: expected a duration such as ${DURATION_EXAMPLES}, got ${JSON.stringify(value)}` });
      return z.NEVER;
    }
    return ms;
  })
  .pipe(
    z
      .number()
      .int()
      .min(MIN_SCHEDULE_INTERVAL_MS, `interval must be at least ${MIN_SCHEDULE_INTERVAL_MS / 1000}s`)
      .max(MAX_SCHEDULE_INTERVAL_MS, `interval must be at most ${MAX_SCHEDULE_INTERVAL_MS / 86_400_000}d`),
  )
  .meta({ description: `A duration such as ${DURATION_EXAMPLES}; at least 1s.` });

const Name = z.string().trim().min(1, "name must not be empty").max(128);
const Query = z.string().trim().min(1, "query must not be empty").max(MAX_QUERY_CHARS);
const Collector = z.string().min(1).max(64);
const TimeoutMs = z.number().int().positive().max(MAX_TIMEOUT_MS);

/** `POST /api/v1/schedules` body. */
export const ScheduleRequest = z
  .object({
    name: Name,
    query: Query,
    collector: Collector.default("host"),
    interval: Interval,
    targets: FanoutTargets,
    mode: ScheduleMode.default("snapshot"),
    timeoutMs: TimeoutMs.optional(),
    enabled: z.boolean().default(true),
  })
  .strict();
export type ScheduleRequest = z.input<typeof ScheduleRequest>;

/** `PATCH /api/v1/schedules/:id` body: the fields to change; the change applies at the schedule's next tick. */
export const SchedulePatch = z
  .object({
    name: Name.optional(),
    query: Query.optional(),
    collector: Collector.optional(),
    interval: Interval.optional(),
    targets: FanoutTargets.optional(),
    mode: ScheduleMode.optional(),
    timeoutMs: TimeoutMs.nullable().optional(),
    enabled: z.boolean().optional(),
  })
  .strict();
export type SchedulePatch = z.input<typeof SchedulePatch>;

const Common = {
  id: z.string(),
  name: z.string(),
  query: z.string(),
  collector: z.string(),
  /** Milliseconds. */
  intervalMs: z.number().int(),
  targets: FanoutTargets,
  /** Null: the hub's default query deadline. */
  timeoutMs: z.number().int().nullable(),
  enabled: z.boolean(),
  createdAt: IsoTime,
  updatedAt: IsoTime,
};

/** A scheduled query. */
export const ScheduleView = z.object({ ...Common, mode: ScheduleMode });
export type ScheduleView = z.infer<typeof ScheduleView>;

/** `GET /api/v1/schedules` 200. */
export const ScheduleList = z.object({ schedules: z.array(ScheduleView) });
export type ScheduleList = z.infer<typeof ScheduleList>;

/** One run of a schedule on one agent, as stored. */
export const ScheduleRun = z.object({
  seq: z.number().int(),
  /** `<scheduleId>:<agentId>:<slot>`: the same for every attempt at that slot. */
  runId: z.string(),
  scheduleId: z.string(),
  agentId: z.string(),
  /** The slot the run belongs to: its due time (epoch ms), on the grid of the schedule's interval and the agent's phase; the same for every attempt at it. */
  slot: z.number().int(),
  correlationId: z.string(),
  mode: ScheduleMode,
  status: QueryStatus,
  /** The agent's first successful run: `rows` is the full result (differential mode: also `added`). */
  snapshot: z.boolean(),
  added: z.array(ResultRow).nullable(),
  removed: z.array(ResultRow).nullable(),
  rows: z.array(ResultRow).nullable(),
  error: CommandError.nullable(),
  createdAt: IsoTime,
  finishedAt: IsoTime.nullable(),
});
export type ScheduleRun = z.infer<typeof ScheduleRun>;

/** `GET /api/v1/schedules/:id/results` query: newest first, `limit` runs older than `before` (a seq). */
export const ScheduleResultsQuery = z.object({
  agentId: z.string().min(1).max(256).optional().meta({ description: "Only runs on this agent." }),
  limit: z.coerce.number().int().min(1).max(500).default(50).meta({ description: "Runs in the page." }),
  before: z.coerce.number().int().positive().optional().meta({ description: "Only runs older than this seq: the `nextBefore` of the previous page." }),
});
export type ScheduleResultsQuery = z.input<typeof ScheduleResultsQuery>;

/** `GET /api/v1/schedules/:id/results` 200. */
export const ScheduleResults = z.object({ results: z.array(ScheduleRun), nextBefore: z.number().int().nullable() });
export type ScheduleResults = z.infer<typeof ScheduleResults>;

/** `POST /api/v1/policies` body: a query that returns rows on a host that passes (a schedule without a mode). */
export const PolicyRequest = ScheduleRequest.omit({ mode: true });
export type PolicyRequest = z.input<typeof PolicyRequest>;

/** `PATCH /api/v1/policies/:id` body. */
export const PolicyPatch = SchedulePatch.omit({ mode: true });
export type PolicyPatch = z.input<typeof PolicyPatch>;

/** Hosts per state. */
export const PolicyCounts = z.object({ pass: z.number().int(), fail: z.number().int(), unknown: z.number().int() });
export type PolicyCounts = z.infer<typeof PolicyCounts>;

/** One host's current state on a policy. */
export const PolicyHost = z.object({
  agentId: z.string(),
  state: PolicyState,
  /** Why it fails or is unknown; null when it passes. */
  reason: z.string().nullable(),
  /** When it entered this state. */
  since: IsoTime,
  /** When it was last checked. */
  checkedAt: IsoTime,
});
export type PolicyHost = z.infer<typeof PolicyHost>;

/** A policy. */
export const PolicyView = z.object({ ...Common, counts: PolicyCounts });
export type PolicyView = z.infer<typeof PolicyView>;

/** `GET /api/v1/policies/:id` 200: the policy, its counts, and its failing hosts (with reasons). */
export const PolicyDetail = PolicyView.extend({ failing: z.array(PolicyHost) });
export type PolicyDetail = z.infer<typeof PolicyDetail>;

/** `GET /api/v1/policies` 200. */
export const PolicyList = z.object({ policies: z.array(PolicyView) });
export type PolicyList = z.infer<typeof PolicyList>;
