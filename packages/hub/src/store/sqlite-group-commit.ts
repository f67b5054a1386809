import { performance } from "node:perf_hooks";
import type Database from "better-sqlite3";

/** A write waiting for the next group commit. */
interface QueuedWrite {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * The longest a background write waits for its commit. A commit costs most of a small write's time (its
 * pages are written to the WAL whatever the number of rows), so scheduled runs' claims and ends, landing
 * a few per turn of the loop, commit together every few milliseconds instead of once a turn each.
 */
export const BACKGROUND_COMMIT_MS = 10;
/**
 * Loop time one background commit's writes take at most (a write already begun runs to its end): what is
 * left is committed in the next turn, so a live query's request or reply waits for one slice at most.
 */
export const BACKGROUND_SLICE_MS = 1;

/**
 * The embedded store's group commit: every write queued during one turn of the event loop runs in one
 * transaction, and each caller's promise resolves only after that transaction committed. Many
 * concurrent queries then share one WAL append instead of paying a page-sized commit each.
 *
 * Background writes (the scheduler's) go in transactions of their own, at most
 * {@link BACKGROUND_COMMIT_MS} after the first of them was queued: a live query's commit never carries
 * them, and they pay one commit for all that landed meanwhile, in slices of {@link BACKGROUND_SLICE_MS}.
 */
export class GroupCommit {
  readonly #db: Database.Database;
  #queue: QueuedWrite[] = [];
  #flush: NodeJS.Immediate | undefined;
  #background: QueuedWrite[] = [];
  #backgroundFlush: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(db: Database.Database) {
    this.#db = db;
  }

  /**
   * Queues `work` for the group commit of this turn (with `background`, for the next background commit);
   * resolves with its result once committed.
   */
  write<T>(work: () => T, background = false): Promise<T> {
    if (this.#closed) return Promise.reject(new Error("the store is closed"));
    return new Promise<T>((resolve, reject) => {
      const write = { work, resolve: resolve as (value: unknown) => void, reject };
      if (background) {
        this.#background.push(write);
        this.#backgroundFlush ??= setTimeout(() => this.#commitBackground(), BACKGROUND_COMMIT_MS);
      } else {
        this.#queue.push(write);
        this.#flush ??= setImmediate(() => this.#commitTurn());
      }
    });
  }

  /** Commits everything queued now, background writes included, rather than when their commit is due. */
  commitNow(): void {
    clearTimeout(this.#backgroundFlush);
    this.#backgroundFlush = undefined;
    const background = this.#background;
    this.#background = [];
    clearImmediate(this.#flush);
    this.#flush = undefined;
    const batch = this.#queue;
    this.#queue = [];
    this.#commit(background.concat(batch));
  }

  #commitTurn(): void {
    this.#flush = undefined;
    const batch = this.#queue;
    this.#queue = [];
    this.#commit(batch);
  }

  #commitBackground(): void {
    this.#backgroundFlush = undefined;
    const end = performance.now() + BACKGROUND_SLICE_MS;
    const done = this.#commit(this.#background, () => performance.now() >= end);
    this.#background = this.#background.slice(done);
    // The rest of a backlog: the next slice, after the I/O of this turn.
    if (this.#background.length > 0) this.#backgroundFlush = setTimeout(() => this.#commitBackground(), 0);
  }

  /**
   * Runs the batch's writes in order in one transaction (all of them, or until `enough` says so after
   * one) and settles those that ran once it committed; returns how many are settled (the whole batch when
   * the transaction failed).
   */
  #commit(batch: QueuedWrite[], enough: () => boolean = () => false): number {
    if (batch.length === 0) return 0;
    // A failing statement rolls back alone (SQLite statement atomicity); the others still commit.
    const outcomes: { ok: boolean; value: unknown }[] = [];
    try {
      this.#db.transaction(() => {
        for (const op of batch) {
          try {
            outcomes.push({ ok: true, value: op.work() });
          } catch (err) {
            outcomes.push({ ok: false, value: err });
          }
          if (enough()) break;
        }
      })();
    } catch (err) {
      // The transaction itself failed (BEGIN or COMMIT): nothing of the batch was stored.
      for (const op of batch) op.reject(err);
      return batch.length;
    }
    outcomes.forEach((outcome, i) => (outcome.ok ? batch[i]!.resolve(outcome.value) : batch[i]!.reject(outcome.value)));
    return outcomes.length;
  }

  /** Commits what is queued; later writes are refused. */
  close(): void {
    this.commitNow();
    this.#closed = true;
  }
}
