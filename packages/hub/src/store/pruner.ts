import { setImmediate as nextTurn } from "node:timers/promises";
import type { Logger } from "../logger.js";
import type { HubMetrics } from "../metrics.js";
import type { AgeMark, FanoutMark } from "./history-store.js";
import type { Store } from "./store.js";

/** How long one kind of history is kept: by age and by count, whichever is stricter; 0 is no bound. */
export interface Retention {
  maxAgeMs: number;
  maxCount: number;
}

export interface PrunerSettings {
  /** Single-agent query audit rows; the count is rows. */
  audit: Retention;
  /** Finished fan-outs with their target rows; the count is target rows, by whole fan-outs. */
  fanouts: Retention;
  /** Hub events (the SSE replay log); the count is events. */
  events: Retention;
  /** How long agents' health samples are kept (ms; 0, or none, keeps them regardless of age). */
  healthSamplesMaxAgeMs?: number;
  /** Runs of schedules and policies (and, by age, policy changes); the count is runs. Optional: none bounds nothing. */
  scheduleRuns?: Retention;
  intervalMs: number;
  /** Rows one delete statement takes at most. */
  batchRows: number;
}

/** The `table` label of uplink_pruned_rows_total. */
export type PrunedTable = "audit" | "fanout_targets" | "fanouts" | "events" | "sessions" | "outbox" | "schedule_runs" | "health_samples";
export type PruneCounts = Record<PrunedTable, number>;

/** Index entries a count walk skips per statement: bounded work per statement even for a count of millions. */
const MARK_STEP = 10_000;
/** Fan-outs read (newest first) per statement of the fan-out count walk, and listed per prunable page. */
const FANOUT_PAGE = 500;
const FANOUTS_PER_PASS_PAGE = 20;

/**
 * Keeps history bounded: on a timer (jittered ±10 %, so replicas drift apart), one pass deletes what is
 * past its retention — single-agent audit rows, finished fan-outs with their targets, hub events, agents'
 * health samples, and expired console sessions — in
 * statements of at most `batchRows` rows, oldest first, yielding to the event loop between statements.
 * Nothing runs on a request's path, no statement holds the store for long, and every delete is
 * idempotent: replicas that prune at the same moment simply find rows already gone.
 *
 * Count bounds are found by walking the age index from the newest in steps of {@link MARK_STEP} entries;
 * the row where the walk ends is the oldest one kept. The event log loses only a prefix (oldest first,
 * stopping at the first event inside retention), so a replay never skips an event that is still kept.
 */
export class Pruner {
  readonly #store: Store;
  readonly #metrics: HubMetrics;
  readonly #log: Logger;
  readonly #settings: PrunerSettings;
  readonly #now: () => number;
  readonly #markStep: number;
  readonly #fanoutPage: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> = Promise.resolve();
  #stopped = false;

  /** `now` and `markStep` (rows per step of a count walk, default {@link MARK_STEP}) are for tests. */
  constructor(deps: { store: Store; metrics: HubMetrics; log: Logger; settings: PrunerSettings; now?: () => number; markStep?: number }) {
    this.#store = deps.store;
    this.#metrics = deps.metrics;
    this.#log = deps.log.child({ component: "pruner" });
    this.#settings = deps.settings;
    this.#now = deps.now ?? Date.now;
    this.#markStep = deps.markStep ?? MARK_STEP;
    this.#fanoutPage = deps.markStep ?? FANOUT_PAGE;
  }

  /** Runs a pass every interval from now on (the first one interval from now). */
  start(): void {
    this.#stopped = false;
    this.#schedule();
  }

  /** Stops the timer and waits for a pass in progress, which ends at its next statement. Idempotent. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  #schedule(): void {
    if (this.#stopped) return;
    const delay = this.#settings.intervalMs * (0.9 + Math.random() * 0.2);
    this.#timer = setTimeout(() => {
      this.#running = this.prune().then(
        (pruned) => {
          const total = Object.values(pruned).reduce((a, b) => a + b, 0);
          if (total > 0) this.#log.info({ pruned }, "pruned history past its retention");
        },
        (err: unknown) => this.#log.warn({ err: (err as Error).message }, "pruning history failed; retrying at the next interval"),
      ).finally(() => this.#schedule());
    }, delay);
    this.#timer.unref();
  }

  /** One pass over every kind of history; resolves the rows deleted per table. */
  async prune(): Promise<PruneCounts> {
    const counts: PruneCounts = { audit: 0, fanout_targets: 0, fanouts: 0, events: 0, sessions: 0, outbox: 0, schedule_runs: 0, health_samples: 0 };
    const now = this.#now();
    await this.#pruneAudit(now, counts);
    await this.#pruneFanouts(now, counts);
    await this.#pruneEvents(now, counts);
    await this.#pruneHealthSamples(now, counts);
    // Expired console sessions: never used again (authentication checks the expiry), only dropped.
    this.#count("sessions", counts, await this.#store.pruneSessions(now));
    await this.#pruneOutbox(counts);
    await this.#pruneScheduleRuns(now, counts);
    return counts;
  }

  #count(table: PrunedTable, counts: PruneCounts, n: number): void {
    if (n === 0) return;
    counts[table] += n;
    this.#metrics.prunedRows.inc({ table }, n);
  }

  async #pruneAudit(now: number, counts: PruneCounts): Promise<void> {
    const { maxAgeMs, maxCount } = this.#settings.audit;
    const byAge: AgeMark | undefined = maxAgeMs > 0 ? { createdAt: now - maxAgeMs, seq: 0 } : undefined;
    const oldestKept = maxCount > 0 ? await this.#walk<AgeMark>(maxCount, (from, offset) => this.#store.history.auditMark(from, offset)) : undefined;
    const cutoff = later(byAge, oldestKept, (a, b) => a.createdAt - b.createdAt || a.seq - b.seq);
    if (cutoff === undefined) return;
    const batch = this.#settings.batchRows;
    for (let n = batch; n === batch && !this.#stopped; await nextTurn()) {
      n = await this.#store.history.pruneAudit(cutoff, batch);
      this.#count("audit", counts, n);
    }
  }

  async #pruneFanouts(now: number, counts: PruneCounts): Promise<void> {
    const { maxAgeMs, maxCount } = this.#settings.fanouts;
    const byAge: FanoutMark | undefined = maxAgeMs > 0 ? { createdAt: now - maxAgeMs, id: "" } : undefined;
    const oldestKept = maxCount > 0 ? await this.#oldestFanoutKept(maxCount) : undefined;
    const cutoff = later(byAge, oldestKept, (a, b) => a.createdAt - b.createdAt || compareBytes(a.id, b.id));
    if (cutoff === undefined) return;
    const batch = this.#settings.batchRows;
    while (!this.#stopped) {
      const ids = await this.#store.history.prunableFanouts(cutoff, FANOUTS_PER_PASS_PAGE);
      let dropped = 0;
      for (const id of ids) {
        for (let done = false; !done && !this.#stopped; await nextTurn()) {
          const { targets, fanout } = await this.#store.history.pruneFanout(id, batch);
          this.#count("fanout_targets", counts, targets);
          if (fanout) this.#count("fanouts", counts, 1);
          dropped += fanout ? 1 : 0;
          // Fewer than a batch and the fan-out stayed: what is left is not to be pruned (open work).
          done = fanout || targets < batch;
        }
      }
      // A page where nothing could be dropped would be listed again and again: the pass is over.
      if (ids.length < FANOUTS_PER_PASS_PAGE || dropped === 0) return;
    }
  }

  /**
   * The oldest fan-out inside the target-row bound: the newest fan-outs are kept, whole, while their
   * targets add up to at most `maxTargets` (the newest one is kept whatever its size).
   */
  async #oldestFanoutKept(maxTargets: number): Promise<FanoutMark | undefined> {
    let kept: FanoutMark | undefined;
    let total = 0;
    for (let from: FanoutMark | null = null; ; await nextTurn()) {
      const page = await this.#store.history.listFanoutSizes(from, this.#fanoutPage);
      for (const f of page) {
        total += f.targetCount;
        if (kept !== undefined && total > maxTargets) return kept;
        kept = { createdAt: f.createdAt, id: f.id };
      }
      if (page.length < this.#fanoutPage) return undefined;
      from = kept!;
    }
  }

  async #pruneEvents(now: number, counts: PruneCounts): Promise<void> {
    const { maxAgeMs, maxCount } = this.#settings.events;
    const ageCutoff = maxAgeMs > 0 ? now - maxAgeMs : undefined;
    const oldestKept = maxCount > 0 ? await this.#walk<number>(maxCount, (from, offset) => this.#store.history.eventMark(from, offset)) : undefined;
    if (ageCutoff === undefined && oldestKept === undefined) return;
    const batch = this.#settings.batchRows;
    while (!this.#stopped) {
      const page = await this.#store.listEvents(0, batch);
      // The leading run past retention: the log only ever loses a prefix.
      let end = 0;
      while (end < page.length && ((oldestKept !== undefined && page[end]!.seq < oldestKept) || (ageCutoff !== undefined && page[end]!.createdAt < ageCutoff))) end++;
      if (end === 0) return;
      this.#count("events", counts, await this.#store.history.pruneEventsThrough(page[end - 1]!.seq));
      if (end < batch) return;
      await nextTurn();
    }
  }

  /** Health samples older than their retention, oldest first, a batch a statement. */
  async #pruneHealthSamples(now: number, counts: PruneCounts): Promise<void> {
    const maxAgeMs = this.#settings.healthSamplesMaxAgeMs ?? 0;
    if (maxAgeMs <= 0) return;
    const batch = this.#settings.batchRows;
    for (let n = batch; n === batch && !this.#stopped; await nextTurn()) {
      n = await this.#store.history.pruneHealthSamples(now - maxAgeMs, batch);
      this.#count("health_samples", counts, n);
    }
  }

  /** The destinations' outbox loses what every destination has delivered (store.pruneOutbox), nothing else. */
  async #pruneOutbox(counts: PruneCounts): Promise<void> {
    const batch = this.#settings.batchRows;
    for (let n = batch; n === batch && !this.#stopped; await nextTurn()) {
      n = await this.#store.pruneOutbox(batch);
      this.#count("outbox", counts, n);
    }
  }

  /**
   * Runs of schedules and policies past their age or count (and runs and changes of deleted ones), in
   * statements of at most a batch, yielding between them.
   */
  async #pruneScheduleRuns(now: number, counts: PruneCounts): Promise<void> {
    const { maxAgeMs, maxCount } = this.#settings.scheduleRuns ?? { maxAgeMs: 0, maxCount: 0 };
    const beforeAt = maxAgeMs > 0 ? now - maxAgeMs : null;
    const oldestKept = maxCount > 0 ? await this.#walk<number>(maxCount, (from, offset) => this.#store.schedules.runMark(from, offset)) : undefined;
    const batch = this.#settings.batchRows;
    for (let n = batch; n === batch && !this.#stopped; await nextTurn()) {
      n = await this.#store.schedules.pruneRuns(oldestKept ?? null, beforeAt, batch);
      this.#count("schedule_runs", counts, n);
    }
  }

  /** The `count`-th newest row, walked in steps of MARK_STEP; undefined when there are fewer rows. */
  async #walk<M>(count: number, step: (from: M | null, offset: number) => Promise<M | undefined>): Promise<M | undefined> {
    let mark: M | null = null;
    for (let left = count; left > 0 && !this.#stopped; await nextTurn()) {
      const n = Math.min(left, this.#markStep);
      const next = await step(mark, n - 1);
      if (next === undefined) return undefined;
      mark = next;
      left -= n;
    }
    return this.#stopped ? undefined : (mark ?? undefined);
  }
}

/** The later of two optional cutoffs (rows before it go). */
function later<M>(a: M | undefined, b: M | undefined, compare: (a: M, b: M) => number): M | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return compare(a, b) >= 0 ? a : b;
}

/** Byte order of two ids, as the stores compare them (SQLite BINARY, PostgreSQL COLLATE "C"). */
function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
