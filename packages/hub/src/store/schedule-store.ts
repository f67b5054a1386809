import type { FanoutTargets, PolicyState, ScheduleMode } from "@uplink/protocol";
import type { QueryStatus } from "./store.js";

/** A scheduled query (`sch_…`) or a policy (`pol_…`): both run a query on their targets at an interval. */
export type ScheduleKind = "schedule" | "policy";

/** One row of a result: column → cell. */
export type ResultRow = Record<string, unknown>;

export interface ScheduleRecord {
  id: string;
  kind: ScheduleKind;
  /** Unique among the schedules, or among the policies. */
  name: string;
  query: string;
  collector: string;
  intervalMs: number;
  targets: FanoutTargets;
  /** Schedules: what a run stores; policies: null. */
  mode: ScheduleMode | null;
  /** Null: the hub's default query deadline. */
  timeoutMs: number | null;
  enabled: boolean;
  createdAt: number;
  updatedAt: number;
}

/** What a PATCH changes; `updatedAt` always. */
export type ScheduleChange = Partial<Pick<ScheduleRecord, "name" | "query" | "collector" | "intervalMs" | "targets" | "mode" | "timeoutMs" | "enabled">> & { updatedAt: number };

/** One run of a schedule (or a policy) on one agent at one interval slot. */
export interface ScheduleRunRecord {
  /** Monotonic, the `before` cursor of the results. */
  seq: number;
  scheduleId: string;
  agentId: string;
  slot: number;
  correlationId: string;
  /** The hub (replica) that claimed it: a pending run of a hub that died is run again by the next. */
  owner: string;
  status: QueryStatus;
  snapshot: boolean;
  added: ResultRow[] | null;
  removed: ResultRow[] | null;
  rows: ResultRow[] | null;
  errorCode: string | null;
  errorMessage: string | null;
  createdAt: number;
  finishedAt: number | null;
}

export type NewScheduleRun = Pick<ScheduleRunRecord, "scheduleId" | "agentId" | "slot" | "correlationId" | "owner" | "createdAt">;
/** A claimed run: its slot, and the correlationId it was claimed with. */
export type RunKey = Pick<ScheduleRunRecord, "scheduleId" | "agentId" | "slot" | "correlationId">;

/** How a run ended; `base` (ok runs of differential schedules) becomes the agent's state the next run is compared with. */
export type RunFinish = Pick<ScheduleRunRecord, "status" | "snapshot" | "added" | "removed" | "rows" | "errorCode" | "errorMessage" | "finishedAt"> & {
  base?: ResultRow[] | undefined;
};

/** One host's current standing on a policy. */
export interface PolicyHostRecord {
  policyId: string;
  agentId: string;
  state: PolicyState;
  reason: string | null;
  /** When it entered this state. */
  since: number;
  checkedAt: number;
}

/** One change of a host's state on a policy (its history). */
export interface PolicyChangeRecord {
  seq: number;
  policyId: string;
  agentId: string;
  from: PolicyState | null;
  to: PolicyState;
  reason: string | null;
  at: number;
}

export interface RunPage {
  agentId?: string | undefined;
  limit: number;
  before?: number | undefined;
}

/**
 * Schedules and policies, their runs and the state runs leave (the differential base per agent, the
 * policy state per host). Runs are keyed by (schedule, agent, slot): a slot is claimed once, whichever
 * hub (replica) claims it, so none runs twice; a claim left pending by a hub that died may be taken over.
 */
export interface ScheduleStore {
  /** False, and nothing written, when the name is taken among its kind. */
  createSchedule(schedule: ScheduleRecord): Promise<boolean>;
  /**
   * The schedule as changed; undefined when unknown; `"name_taken"` when the new name is another's. A change
   * of what a run answers (query, collector, mode) drops every agent's base: each one's next run is a snapshot.
   */
  updateSchedule(id: string, change: ScheduleChange): Promise<ScheduleRecord | undefined | "name_taken">;
  /** Deletes the schedule with its per-agent state and policy hosts (its runs and changes go with the pruner); false when unknown. */
  deleteSchedule(id: string): Promise<boolean>;
  findSchedule(id: string): Promise<ScheduleRecord | undefined>;
  /** Every schedule of the kind (both when omitted), by name. */
  listSchedules(kind?: ScheduleKind): Promise<ScheduleRecord[]>;

  /**
   * The last slot claimed per agent of a schedule, for the agents whose last slot is at or after
   * `sinceSlot` (older cursors do not change where an agent resumes: see CATCH_UP_MS).
   */
  listCursors(scheduleId: string, sinceSlot: number): Promise<Map<string, number>>;
  /**
   * Claims a slot: records the run pending under `owner` and moves the agent's cursor to it. True when
   * claimed; false when the schedule is gone or disabled (a delete stops runs at once, on every replica),
   * or that slot is already claimed (by anyone) — except that a run still pending under
   * another owner is claimed again (its new correlationId replaces the old) when `takeOver` says so.
   */
  claimRun(run: NewScheduleRun, takeOver?: boolean): Promise<boolean>;
  /** Runs still pending under owners other than `owner` (left by a hub that died), oldest first. */
  openRuns(owner: string, limit: number): Promise<ScheduleRunRecord[]>;
  /** The rows of the agent's last successful differential run; null when it has none (its next run is a snapshot). */
  baseRows(scheduleId: string, agentId: string): Promise<ResultRow[] | null>;
  /** Ends the run if still pending under its `correlationId` (and stores `base`); false when it was not (ended, or claimed again). */
  finishRun(run: RunKey, finish: RunFinish): Promise<boolean>;
  /** Runs of a schedule, newest first. */
  listRuns(scheduleId: string, page: RunPage): Promise<ScheduleRunRecord[]>;

  /**
   * Records a host's state on a policy: the state changed (or is the host's first) → the change is
   * recorded in its history and resolved (`from` null for the first); unchanged → only `checkedAt` moves,
   * resolves undefined.
   */
  setPolicyHost(host: Omit<PolicyHostRecord, "since">): Promise<{ from: PolicyState | null } | undefined>;
  listPolicyHosts(policyId: string, state?: PolicyState): Promise<PolicyHostRecord[]>;
  /** Hosts per state per policy. */
  policyCounts(): Promise<Map<string, Record<PolicyState, number>>>;
  /** A policy's history of changes, newest first. */
  listPolicyChanges(policyId: string, limit: number): Promise<PolicyChangeRecord[]>;

  /** The seq of the run `offset` runs past `fromSeq` (exclusive; null: from the newest), newest first; undefined when there are not that many. */
  runMark(fromSeq: number | null, offset: number): Promise<number | undefined>;
  /**
   * Deletes at most `limit` ended runs with seq below `beforeSeq` or created before `beforeAt` (either may
   * be null), and runs and policy changes of deleted schedules; resolves how many.
   */
  pruneRuns(beforeSeq: number | null, beforeAt: number | null, limit: number): Promise<number>;
}

/** Zero hosts in every state. */
export function emptyCounts(): Record<PolicyState, number> {
  return { pass: 0, fail: 0, unknown: 0 };
}

/** Whether a change makes the stored bases meaningless: the runs after it answer another question. */
export function resetsBase(before: ScheduleRecord, after: ScheduleRecord): boolean {
  return before.query !== after.query || before.collector !== after.collector || before.mode !== after.mode;
}
