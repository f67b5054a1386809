/**
 * A place in the age order of a history table: rows before it — older `createdAt`, or the same
 * `createdAt` and a lower `seq` — are older. `{createdAt: t, seq: 0}` stands for "created before t".
 */
export interface AgeMark {
  createdAt: number;
  seq: number;
}

/** A place in the age order of fan-outs, which have no seq: `(createdAt, id)`; `id: ""` sorts first. */
export interface FanoutMark {
  createdAt: number;
  id: string;
}

/** A fan-out as the count walk of the pruner sees it: its place and its weight in target rows. */
export interface FanoutSize extends FanoutMark {
  targetCount: number;
}

/** What one {@link HistoryStore.pruneFanout} call deleted. */
export interface FanoutPruned {
  targets: number;
  /** True when the fan-out's own row went too (none of its targets was left). */
  fanout: boolean;
}

/**
 * The statements of history retention (store/pruner.ts drives them). Each call is one bounded statement
 * (a delete touches at most `limit` rows, a mark skips at most `offset` index entries), so a store on the
 * event loop (SQLite) is never held for long and a networked one (PostgreSQL) never holds a long lock.
 *
 * Every delete is idempotent and may run on several replicas at once: rows already gone are skipped.
 * Open work is never deleted: a `pending` audit row, an unfinished fan-out or any of its targets.
 * The newest audit row and the newest event are never deleted: they carry their table's sequence (an
 * embedded store's rowid would otherwise be handed out again).
 */
export interface HistoryStore {
  /**
   * The single-agent audit row `offset` rows past `from` (exclusive; null: from the newest), newest first
   * by (createdAt, seq); undefined when there are not that many.
   */
  auditMark(from: AgeMark | null, offset: number): Promise<AgeMark | undefined>;
  /** Deletes at most `limit` ended single-agent audit rows before `before`, oldest first; resolves how many. */
  pruneAudit(before: AgeMark, limit: number): Promise<number>;

  /** At most `limit` fan-outs past `from` (exclusive; null: from the newest), newest first by (createdAt, id). */
  listFanoutSizes(from: FanoutMark | null, limit: number): Promise<FanoutSize[]>;
  /** The ids of at most `limit` finished fan-outs before `before`, oldest first. */
  prunableFanouts(before: FanoutMark, limit: number): Promise<string[]>;
  /**
   * Deletes at most `limit` ended target rows of a finished fan-out; once it has none left, its own row.
   * A fan-out still open is left alone.
   */
  pruneFanout(id: string, limit: number): Promise<FanoutPruned>;

  /** The seq of the event `offset` events past `fromSeq` (exclusive; null: from the newest), newest first. */
  eventMark(fromSeq: number | null, offset: number): Promise<number | undefined>;
  /**
   * Deletes the events with seq up to `seq`, except the newest event; resolves how many. The pruner passes
   * a seq from the oldest page it read, so one call deletes at most a page and the log loses only a prefix
   * (a replay never skips an event it still holds).
   */
  pruneEventsThrough(seq: number): Promise<number>;

  /**
   * Deletes at most `limit` health samples taken before `before` (epoch ms), oldest first; resolves how many.
   * Fewer than `limit`: nothing more is past the cutoff (until a later pass, for a sample appended late).
   */
  pruneHealthSamples(before: number, limit: number): Promise<number>;
}
