import type Database from "better-sqlite3";

/** A write waiting for the next group commit. */
interface QueuedWrite {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * The embedded store's group commit: every write queued during one turn of the event loop runs in one
 * transaction, and each caller's promise resolves only after that transaction committed. Many
 * concurrent queries then share one WAL append instead of paying a page-sized commit each.
 */
export class GroupCommit {
  readonly #db: Database.Database;
  #queue: QueuedWrite[] = [];
  #flush: NodeJS.Immediate | undefined;
  #closed = false;

  constructor(db: Database.Database) {
    this.#db = db;
  }

  /** Queues `work` for the group commit of this turn; resolves with its result once committed. */
  write<T>(work: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(new Error("the store is closed"));
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      this.#flush ??= setImmediate(() => this.commitNow());
    });
  }

  /** Commits what is queued now rather than at the end of this turn. */
  commitNow(): void {
    clearImmediate(this.#flush);
    this.#flush = undefined;
    const batch = this.#queue;
    this.#queue = [];
    if (batch.length === 0) return;
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
        }
      })();
    } catch (err) {
      for (const op of batch) op.reject(err);
      return;
    }
    batch.forEach((op, i) => (outcomes[i]!.ok ? op.resolve(outcomes[i]!.value) : op.reject(outcomes[i]!.value)));
  }

  /** Commits what is queued; later writes are refused. */
  close(): void {
    this.commitNow();
    this.#closed = true;
  }
}
