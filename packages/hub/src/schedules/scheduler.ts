import { randomUUID } from "node:crypto";
import { setImmediate as nextTurn } from "node:timers/promises";
import type { PolicyState } from "@uplink/protocol";
import { ConnectionLostError } from "../errors.js";
import type { EventLog } from "../events/event-log.js";
import type { Logger } from "../logger.js";
import type { HubMetrics } from "../metrics.js";
import { runCommand, type CommandOutcome } from "../queries/command-outcome.js";
import type { CommandRouter } from "../queries/command-router.js";
import { emptyCounts, resetsBase, type ResultRow, type RunKey, type ScheduleRecord } from "../store/schedule-store.js";
import type { AgentRecord, Store } from "../store/store.js";
import { DueQueue } from "./due-queue.js";
import { LoopLoad } from "./loop-load.js";
import { diffRows, rowsOf } from "./row-diff.js";
import { nextDueAfter, phaseOf } from "./spread.js";
import { WorkSlices } from "./work-slices.js";

/** How often the schedules are read again from the store (a change made on another replica shows within this). */
export const SCHEDULES_RELOAD_MS = 1_000;
/** How often the agents each schedule targets are resolved again (new agents join within this). */
export const TARGETS_REFRESH_MS = 10_000;
/**
 * Slots missed while no hub ran the schedules (it was down, or the lease moved) are run late when they are
 * at most this old; older ones are skipped. A hub that runs them but is behind skips none (see {@link Scheduler}).
 */
export const CATCH_UP_MS = 30_000;
/** The longest wait of the tick timer: the reload runs at least this often. */
const MAX_TICK_MS = 1_000;
/** Runs started per tick at most: a tick with more due (a hub behind, a takeover catching up) goes on at the next. */
export const TICK_BATCH = 256;
/**
 * Runs claimed and not yet landed at most: past it, due runs wait (late) for runs in flight to land, so a
 * hub that cannot carry its schedules' rate holds a bounded amount of their work, and a burst of replies
 * arriving in one turn of the loop is bounded too.
 */
export const MAX_RUNS_IN_FLIGHT = 256;
/** Loop time the scheduler's own work (sending a run, landing its result) takes per turn of the loop at most. */
export const SLICE_MS = 2;
/**
 * New runs start while the event loop was busy less than this share of the last {@link LOOP_WINDOW_MS}:
 * past it, the hub is not keeping up, and the live path (requests, replies) goes first; due runs wait, late.
 */
export const LOOP_BUSY_CEILING = 0.8;
/**
 * ... except while the scheduler's own slices took less than this share of the window: however busy live
 * traffic keeps the loop, the schedules keep a floor of it and are never stalled outright.
 */
export const SCHEDULED_SHARE_FLOOR = 0.2;
/** The window the loop's utilization is measured over. */
export const LOOP_WINDOW_MS = 100;
/** The scheduler's events are background work: stored with its runs' writes (EventLog.publish). */
const BACKGROUND = { background: true } as const;
/** The wait before the next tick when due runs were held back. */
const BACK_OFF_MS = 10;
/** Pending runs of a dead hub resumed per store read. */
const OPEN_RUNS_PAGE = 1_000;

/** One (schedule, agent): its phase in the interval and the next slot (due time) it runs at. */
interface Entry {
  due: number;
  scheduleId: string;
  agentId: string;
  phase: number;
  /** False once the entry left its schedule (untargeted, schedule changed or gone): skipped when it comes due. */
  live: boolean;
  /** Results land one after the other, in slot order: a differential run compares with the one before it. */
  landing: Promise<void>;
}

/** A schedule being run: its record as last read, one entry per targeted agent, and the log its runs' commands use. */
interface Active {
  record: ScheduleRecord;
  entries: Map<string, Entry>;
  /** One child logger per schedule, not per run: its runs are found by correlationId in the store. */
  log: Logger;
}

/** What decides who runs the schedules in a cluster: a lease on the cluster bus. */
export interface SchedulerLease {
  /** Takes or renews the lease; true while this replica holds it. */
  hold(): Promise<boolean>;
  release(): Promise<void>;
}

export interface SchedulerDeps {
  store: Store;
  router: CommandRouter;
  events: EventLog;
  metrics: HubMetrics;
  log: Logger;
  hubId: string;
  /** The hub's default query deadline, for schedules that name none. */
  defaultTimeoutMs: number;
  /** Cluster mode: only the holder of this lease runs schedules. Without one, this hub always does. */
  lease?: SchedulerLease | undefined;
  /** How often the lease is renewed (and tried by the replicas not holding it). */
  leaseRenewMs?: number;
}

/**
 * Runs every enabled schedule and policy on every agent it targets, once per interval, each run a query
 * command with its own correlationId and deadline through the normal command path (agents held by other
 * replicas included).
 *
 * Spread: each (schedule, agent) runs at a stable phase of the interval (a hash of the pair), so 10,000
 * agents × 100 schedules are sent evenly, never in a burst. The due runs sit in a min-heap by due time
 * (DueQueue): a tick takes only what is due, never scanning every agent.
 *
 * Every run is claimed in the store by (schedule, agent, slot) before it is sent, so no slot runs twice,
 * whichever hub claims it. On start (or on taking the lease over) the hub resumes from the store: each
 * agent from the slot after its last claimed one (slots missed within {@link CATCH_UP_MS} run late), and
 * runs another hub claimed but never finished are claimed again and run.
 *
 * Live queries first: the scheduler's work is background work. A tick starts runs only while fewer than
 * {@link MAX_RUNS_IN_FLIGHT} are in flight and the event loop was busy less than {@link LOOP_BUSY_CEILING}
 * lately (or the scheduler's own share of it was under {@link SCHEDULED_SHARE_FLOOR}); sending a run and
 * landing its result are done in slices of at most {@link SLICE_MS} of loop time per turn (WorkSlices), so
 * a live query's request and reply are never queued behind a long batch. A hub that cannot carry its
 * schedules' rate runs them late, every slot in order (the lag is the gauge `uplink_schedule_lag_seconds`,
 * and a run's `createdAt` past its slot), never skipping one.
 *
 * Changes made through this hub apply at once ({@link changed}); those made through another replica
 * within {@link SCHEDULES_RELOAD_MS}. A deleted or disabled schedule cannot be claimed any more (the
 * claim checks it), so no run of it starts after the change committed.
 */
export class Scheduler {
  readonly #deps: SchedulerDeps;
  readonly #log: Logger;
  readonly #queue = new DueQueue<Entry>();
  readonly #active = new Map<string, Active>();
  /** Hosts per state per policy id, for the gauge (every replica refreshes it from the store). */
  #policyCounts = new Map<string, Record<PolicyState, number>>();
  /** Policy id → name, the gauge's label. */
  #policyNames = new Map<string, string>();
  #running = false;
  #stopped = true;
  #timer: NodeJS.Timeout | undefined;
  #leaseTimer: NodeJS.Timeout | undefined;
  #lastReload = 0;
  #lastTargets = 0;
  #reloading: Promise<void> | undefined;
  #reloadAgain = false;
  readonly #inflight = new Set<Promise<unknown>>();
  readonly #slices = new WorkSlices(SLICE_MS);
  readonly #loop = new LoopLoad(LOOP_WINDOW_MS, () => this.#slices.busyMs);
  /**
   * The differential base per schedule per agent (null: none, the next run is a snapshot), as this hub
   * last wrote or read it: written through to the store, read from it only when missing here (after a
   * start or a lease takeover), so a run costs no read. Dropped whenever this hub stops running a
   * schedule, and for a schedule whose change resets the bases.
   */
  readonly #bases = new Map<string, Map<string, ResultRow[] | null>>();

  constructor(deps: SchedulerDeps) {
    this.#deps = deps;
    this.#log = deps.log.child({ component: "scheduler" });
    deps.metrics.observePolicies(() => this.#gauge());
    deps.metrics.observeScheduleLag(() => this.#lagSeconds());
  }

  /** True while this hub runs the schedules (always, without a lease; in a cluster, while it holds the lease). */
  get running(): boolean {
    return this.#running;
  }

  start(): void {
    this.#stopped = false;
    if (this.#deps.lease === undefined) {
      void this.#become(true);
      return;
    }
    const renew = async (): Promise<void> => {
      let held = false;
      try {
        held = await this.#deps.lease!.hold();
      } catch (err) {
        this.#log.warn({ err: (err as Error).message }, "renewing the scheduler lease failed; not running schedules until it is held again");
      }
      if (this.#stopped) return;
      await this.#become(held);
      // The gauge on a replica not running the schedules follows the store, as often as the holder re-reads it.
      if (!held && Date.now() - this.#lastTargets >= TARGETS_REFRESH_MS) {
        this.#lastTargets = Date.now();
        await this.#refreshCounts();
      }
      this.#leaseTimer = setTimeout(() => void renew(), this.#deps.leaseRenewMs ?? 1_000);
    };
    void renew();
  }

  /** Stops ticking, waits for runs in flight to land, and gives the lease up. Idempotent. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#leaseTimer);
    if (this.#running) this.#log.info({ runsInFlight: this.#inflight.size }, "scheduler stopping");
    this.#halt();
    // No live query to give way to any more: the runs in flight end (fail, mostly) in as few turns as can be.
    this.#slices.unbound();
    await Promise.allSettled([...this.#inflight]);
    if (this.#deps.lease !== undefined) await this.#deps.lease.release().catch(() => undefined);
  }

  /** A schedule or policy was created, changed or deleted through this hub: applied now. */
  changed(id?: string): void {
    if (id !== undefined) {
      // A delete stops the schedule here at once (the store refuses its claims everywhere).
      const active = this.#active.get(id);
      if (active !== undefined) this.#forget(active);
    }
    if (this.#running) void this.#reload(true);
  }

  /** Hosts per state of a policy, as this hub last saw them. */
  countsOf(policyId: string): Record<PolicyState, number> {
    return this.#policyCounts.get(policyId) ?? emptyCounts();
  }

  async #become(holding: boolean): Promise<void> {
    if (holding === this.#running) return;
    if (!holding) {
      this.#log.warn("scheduler lease lost: this hub stops running schedules");
      this.#halt();
      return;
    }
    this.#running = true;
    this.#log.info({ lease: this.#deps.lease !== undefined }, "this hub runs the schedules");
    try {
      await this.#refreshCounts();
      await this.#reload(true);
      await this.#resumeOpenRuns();
    } catch (err) {
      this.#log.error({ err }, "starting the scheduler failed; retrying at the next tick");
    }
    this.#arm();
  }

  #halt(): void {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const active of this.#active.values()) for (const e of active.entries.values()) e.live = false;
    this.#active.clear();
    this.#bases.clear();
    this.#queue.clear();
  }

  /** Arms the next tick: when the next slot is due, or after `backOffMs` when due runs had to wait. */
  #arm(backOffMs = 0): void {
    if (!this.#running || this.#stopped) return;
    clearTimeout(this.#timer);
    const next = this.#queue.peek();
    const wait = next === undefined ? MAX_TICK_MS : Math.min(MAX_TICK_MS, Math.max(backOffMs, next - Date.now()));
    // More due now (the last tick took a bounded batch): the next batch after the I/O waiting in this turn.
    this.#timer = setTimeout(() => void this.#tick(), wait);
  }

  async #tick(): Promise<void> {
    if (!this.#running) return;
    const now = Date.now();
    if (now - this.#lastReload >= SCHEDULES_RELOAD_MS) await this.#reload(now - this.#lastTargets >= TARGETS_REFRESH_MS).catch((err: unknown) => this.#log.error({ err }, "reading the schedules failed"));
    if (!this.#running) return;
    // The live path first: no new run while the loop is near full (beyond the schedules' floor) or enough
    // runs are in flight; what is due waits (late) for the next tick.
    const { loop, own } = this.#loop.shares();
    const keepingUp = loop < LOOP_BUSY_CEILING || own < SCHEDULED_SHARE_FLOOR;
    const room = keepingUp ? Math.min(TICK_BATCH, MAX_RUNS_IN_FLIGHT - this.#inflight.size) : 0;
    const due: Entry[] = [];
    for (let entry = room > 0 ? this.#queue.popDue(now) : undefined; entry !== undefined; entry = due.length < room ? this.#queue.popDue(now) : undefined) {
      if (entry.live && this.#active.has(entry.scheduleId)) due.push(entry);
    }
    for (const entry of due) {
      const active = this.#active.get(entry.scheduleId)!;
      const slot = entry.due;
      // Every slot runs, one per entry per tick: slots a hub behind could not start in time run late, one
      // after the other (the heap gives the oldest first); a tick never runs an entry twice.
      entry.due = nextDueAfter(slot, active.record.intervalMs, entry.phase);
      this.#queue.push(entry);
      void this.#run(active, entry, slot, false);
    }
    // Held back (the loop busy, or the runs in flight at their bound): try again shortly, not at once.
    const heldBack = room < TICK_BATCH && (this.#queue.peek() ?? Infinity) <= now;
    this.#arm(heldBack ? BACK_OFF_MS : 0);
  }

  /** How late the oldest due run is (0 when none waits): a hub not carrying its schedules' rate falls behind. */
  #lagSeconds(): number {
    const next = this.#queue.peek();
    return !this.#running || next === undefined ? 0 : Math.max(0, Date.now() - next) / 1000;
  }

  /** Reads the schedules again (and, with `targets`, the agents they target); one read at a time. */
  #reload(targets: boolean): Promise<void> {
    if (this.#reloading !== undefined) {
      this.#reloadAgain ||= targets;
      return this.#reloading;
    }
    this.#reloading = (async () => {
      try {
        await this.#apply(targets);
        while (this.#reloadAgain) {
          this.#reloadAgain = false;
          await this.#apply(true);
        }
      } finally {
        this.#reloading = undefined;
      }
    })();
    return this.#reloading;
  }

  async #apply(refreshTargets: boolean): Promise<void> {
    const { store } = this.#deps;
    const now = Date.now();
    this.#lastReload = now;
    const all = await store.schedules.listSchedules();
    if (!this.#running) return;
    this.#policyNames = new Map(all.filter((r) => r.kind === "policy").map((p) => [p.id, p.name]));
    if (refreshTargets) await this.#refreshCounts();
    const records = all.filter((r) => r.enabled);
    const seen = new Set<string>();
    let agents: AgentRecord[] | undefined;
    const agentsNow = async (): Promise<AgentRecord[]> => (agents ??= await store.listAgents({}));
    // Schedules with the same targets (often all of them: `all`) match the same agents: resolved once.
    const matchedBy = new Map<string, Set<string>>();
    for (const record of records) {
      seen.add(record.id);
      const active = this.#active.get(record.id);
      // Interval or targets changed: the entries are rebuilt (new phases), from each agent's cursor.
      const rebuild = active === undefined || active.record.intervalMs !== record.intervalMs || JSON.stringify(active.record.targets) !== JSON.stringify(record.targets);
      if (active !== undefined && resetsBase(active.record, record)) this.#bases.delete(record.id);
      if (!rebuild && !refreshTargets) {
        active!.record = record;
        continue;
      }
      const targetsKey = JSON.stringify(record.targets);
      let matched = matchedBy.get(targetsKey);
      if (matched === undefined) matchedBy.set(targetsKey, (matched = targetsOf(record, await agentsNow())));
      const next: Active = rebuild ? { record, entries: new Map(), log: this.#log.child({ scheduleId: record.id }) } : { ...active!, record };
      // The cursors are read only when agents join the schedule: a steady refresh reads none.
      const joining = [...matched].some((agentId) => !next.entries.has(agentId));
      const cursors = joining ? await store.schedules.listCursors(record.id, now - CATCH_UP_MS - record.intervalMs) : new Map<string, number>();
      if (!this.#running) return;
      if (rebuild && active !== undefined) this.#forget(active);
      for (const [agentId, entry] of next.entries) {
        if (!matched.has(agentId)) {
          entry.live = false;
          next.entries.delete(agentId);
        }
      }
      for (const agentId of matched) {
        if (next.entries.has(agentId)) continue;
        const phase = phaseOf(record.id, agentId, record.intervalMs);
        const cursor = cursors.get(agentId);
        // Resume after the last claimed slot, late slots within the catch-up window; a new agent starts at its next slot.
        const due = cursor === undefined ? nextDueAfter(now, record.intervalMs, phase) : Math.max(nextDueAfter(cursor, record.intervalMs, phase), nextDueAfter(now - CATCH_UP_MS, record.intervalMs, phase));
        const entry: Entry = { due, scheduleId: record.id, agentId, phase, live: true, landing: Promise.resolve() };
        next.entries.set(agentId, entry);
        this.#queue.push(entry);
      }
      this.#active.set(record.id, next);
      // A schedule's targets over thousands of agents take milliseconds: the live path goes between two.
      await nextTurn();
      if (!this.#running) return;
    }
    if (refreshTargets) this.#lastTargets = now;
    for (const active of [...this.#active.values()]) if (!seen.has(active.record.id)) this.#forget(active);
  }

  #forget(active: Active): void {
    for (const entry of active.entries.values()) entry.live = false;
    this.#active.delete(active.record.id);
    this.#bases.delete(active.record.id);
  }

  /**
   * Runs another hub claimed and never finished (it died): claimed again here and run, page after page. One
   * this hub cannot run (its schedule or agent is no longer targeted) is ended as an error with the code of
   * a dead hub's open work (`hub_restarted`, or `replica_lost` in a cluster), so no run stays pending.
   */
  async #resumeOpenRuns(): Promise<void> {
    const { store, hubId } = this.#deps;
    const code = this.#deps.lease === undefined ? "hub_restarted" : "replica_lost";
    let resumed = 0;
    let closed = 0;
    for (;;) {
      const open = await store.schedules.openRuns(hubId, OPEN_RUNS_PAGE);
      await Promise.all(
        open.map(async (run) => {
          const active = this.#active.get(run.scheduleId);
          const entry = active?.entries.get(run.agentId);
          if (active !== undefined && entry !== undefined) {
            // Claimed before the next page is read: a run claimed here is no longer another owner's.
            if (await this.#run(active, entry, run.slot, true)) resumed++;
            else closed += (await this.#closeLost(run, code)) ? 1 : 0;
          } else {
            closed += (await this.#closeLost(run, code)) ? 1 : 0;
          }
        }),
      );
      if (open.length < OPEN_RUNS_PAGE || !this.#running) break;
    }
    if (resumed + closed > 0) this.#log.info({ runs: resumed, closed }, "resumed runs a previous scheduler left open");
  }

  #closeLost(run: RunKey, code: "hub_restarted" | "replica_lost"): Promise<boolean> {
    const message = "the hub running the schedules stopped before this run ended, and it cannot be run again here";
    return this.#deps.store.schedules.finishRun(run, { status: "error", snapshot: false, added: null, removed: null, rows: null, errorCode: code, errorMessage: message, finishedAt: Date.now() });
  }

  /**
   * Claims the slot, sends the command, and lands its result after the entry's previous one; the sending
   * and the landing each in a slice of the loop (WorkSlices).
   */
  #run(active: Active, entry: Entry, slot: number, takeOver: boolean): Promise<boolean> {
    const { store, router, hubId } = this.#deps;
    const { record, log } = active;
    const correlationId = randomUUID();
    const claim = store.schedules.claimRun({ scheduleId: record.id, agentId: entry.agentId, slot, correlationId, owner: hubId, createdAt: Date.now() }, takeOver);
    const outcome = (async (): Promise<CommandOutcome | undefined> => {
      if (!(await claim)) return undefined;
      return this.#slices.run(() =>
        // Claimed as the hub began to stop: ended like every command shutdown fails, never sent.
        this.#stopped ? { status: "error", error: new ConnectionLostError("hub_shutting_down", "the hub is shutting down"), durationMs: 0 }
        : runCommand(router, entry.agentId, {
            correlationId,
            sessionId: record.id,
            kind: "query",
            collector: record.collector,
            query: record.query,
            timeoutMs: record.timeoutMs ?? this.#deps.defaultTimeoutMs,
            log,
          }),
      );
    })();
    const landed = (entry.landing = entry.landing.then(async () => {
      const o = await outcome;
      if (o !== undefined) await this.#slices.run(() => this.#land(record, entry, slot, correlationId, o));
    }).catch((err: unknown) => log.error({ err, agentId: entry.agentId, correlationId }, "a scheduled run failed to land")));
    this.#inflight.add(landed);
    void landed.finally(() => this.#inflight.delete(landed));
    return claim.catch(() => false);
  }

  async #land(record: ScheduleRecord, entry: Entry, slot: number, correlationId: string, outcome: CommandOutcome): Promise<void> {
    const { store, metrics } = this.#deps;
    const { agentId } = entry;
    metrics.scheduleRuns.inc({ kind: record.kind, status: outcome.status });
    const finishedAt = Date.now();
    const error = outcome.status === "ok" ? null : { code: outcome.error.code, message: outcome.error.message };
    const failed = { errorCode: error?.code ?? null, errorMessage: error?.message ?? null };
    // The hub stopping is no news about the host: the run is ended, no event, a policy keeps its state.
    const hubStopping = error?.code === "hub_shutting_down";
    const runId = `${record.id}:${agentId}:${slot}`;
    const key = { scheduleId: record.id, agentId, slot, correlationId };
    const at = new Date(finishedAt).toISOString();
    if (record.kind === "policy") {
      const rows = outcome.status === "ok" ? rowsOf(outcome.result) : null;
      await store.schedules.finishRun(key, { status: outcome.status, snapshot: false, added: null, removed: null, rows, ...failed, finishedAt });
      if (hubStopping) return;
      const state: PolicyState = rows === null ? "unknown" : rows.length > 0 ? "pass" : "fail";
      const reason = state === "pass" ? null : state === "fail" ? "the query returned no rows" : `${error!.code}: ${error!.message}`;
      const change = await store.schedules.setPolicyHost({ policyId: record.id, agentId, state, reason, checkedAt: finishedAt });
      if (change === undefined) return;
      const counts = this.#policyCounts.get(record.id) ?? emptyCounts();
      if (change.from !== null) counts[change.from] = Math.max(0, counts[change.from] - 1);
      counts[state]++;
      this.#policyCounts.set(record.id, counts);
      this.#deps.events.publish("policy.changed", { at, policyId: record.id, policyName: record.name, agentId, from: change.from, to: state, ...(reason === null ? {} : { reason }) }, BACKGROUND);
      return;
    }
    const mode = record.mode ?? "snapshot";
    const base = { at, scheduleId: record.id, scheduleName: record.name, agentId, runId, correlationId, mode, status: outcome.status };
    if (outcome.status !== "ok") {
      const stored = await store.schedules.finishRun(key, { status: outcome.status, snapshot: false, added: null, removed: null, rows: null, ...failed, finishedAt });
      // An offline agent is news on the agent events already; it catches up at its next run.
      if (stored && outcome.status !== "offline" && !hubStopping) this.#deps.events.publish("schedule.result", { ...base, snapshot: false, error: error! }, BACKGROUND);
      return;
    }
    const rows = rowsOf(outcome.result);
    const previous = await this.#baseOf(record.id, entry);
    const snapshot = previous === null;
    // The base is written only when it changes: snapshot mode keeps an empty one (it only marks that the
    // agent had its first run), a differential run without a change leaves it as it is.
    let finish: { added: ResultRow[] | null; removed: ResultRow[] | null; rows: ResultRow[] | null; base: ResultRow[] | undefined };
    if (mode === "snapshot") finish = { added: null, removed: null, rows, base: snapshot ? [] : undefined };
    else if (snapshot) finish = { added: rows, removed: [], rows, base: rows };
    else {
      const diff = diffRows(previous, rows);
      finish = { ...diff, rows: null, base: diff.added.length + diff.removed.length > 0 ? rows : undefined };
    }
    const stored = await store.schedules.finishRun(key, { status: "ok", snapshot, ...finish, errorCode: null, errorMessage: null, finishedAt });
    // Not stored: the run was ended or claimed again elsewhere, so what the store holds is read next time.
    if (!stored) {
      this.#bases.get(record.id)?.delete(agentId);
      return;
    }
    if (finish.base !== undefined && entry.live) this.#basesOf(record.id).set(agentId, finish.base);
    if (mode === "snapshot") this.#deps.events.publish("schedule.result", { ...base, snapshot, rows }, BACKGROUND);
    else if (snapshot || finish.added!.length > 0 || finish.removed!.length > 0) {
      this.#deps.events.publish("schedule.result", { ...base, snapshot, added: finish.added, removed: finish.removed }, BACKGROUND);
    }
  }

  /** The agent's base: this hub's copy, or the store's (kept while the entry is still run here). */
  async #baseOf(scheduleId: string, entry: Entry): Promise<ResultRow[] | null> {
    const known = this.#bases.get(scheduleId)?.get(entry.agentId);
    if (known !== undefined) return known;
    const read = await this.#deps.store.schedules.baseRows(scheduleId, entry.agentId);
    if (entry.live) this.#basesOf(scheduleId).set(entry.agentId, read);
    return read;
  }

  #basesOf(scheduleId: string): Map<string, ResultRow[] | null> {
    let bases = this.#bases.get(scheduleId);
    if (bases === undefined) this.#bases.set(scheduleId, (bases = new Map()));
    return bases;
  }

  async #refreshCounts(): Promise<void> {
    try {
      this.#policyCounts = await this.#deps.store.schedules.policyCounts();
      this.#policyNames = new Map((await this.#deps.store.schedules.listSchedules("policy")).map((p) => [p.id, p.name]));
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, "reading the policy counts failed");
    }
  }

  #gauge(): { policy: string; pass: number; fail: number; unknown: number }[] {
    const out: { policy: string; pass: number; fail: number; unknown: number }[] = [];
    for (const [id, name] of this.#policyNames) out.push({ policy: name, ...(this.#policyCounts.get(id) ?? emptyCounts()) });
    return out;
  }
}

/** The agents a schedule targets now: listed ids, agents with all its labels (the operator's), or all; never revoked ones. */
export function targetsOf(record: ScheduleRecord, agents: AgentRecord[]): Set<string> {
  const { targets } = record;
  const ids = new Set(targets.agentIds ?? []);
  const out = new Set<string>();
  for (const a of agents) {
    if (a.revokedAt !== null) continue;
    const byLabels = targets.labels !== undefined && Object.entries(targets.labels).every(([k, v]) => a.labels[k] === v);
    if (targets.all === true || ids.has(a.id) || byLabels) out.add(a.id);
  }
  return out;
}

