import { existsSync } from "node:fs";
import { inSingleExecutable } from "../single-executable.js";
import { WORKER_V8_FLAGS } from "../v8-flags.js";
import { PoolClosedError, QueryWorker, WorkerExitedError } from "./worker-process.js";

/** Sizing of a {@link WorkerPool}. */
export interface WorkerPoolOptions {
  /** Absolute path of the compiled worker entry (query-worker.js). */
  workerPath: string;
  /** Most workers alive at once. */
  size: number;
  /** An idle worker exits after this long unused (Infinity keeps it for good). */
  idleTimeoutMs: number;
  /** Resident memory a worker may hold while it runs a query; past it, the watchdog kills it. 0: unbounded. */
  memoryLimitBytes?: number;
  /** V8 settings of each worker besides its heap bound (default {@link WORKER_V8_FLAGS}). */
  v8Flags?: readonly string[];
}

interface Waiter {
  resolve(w: QueryWorker): void;
  reject(e: unknown): void;
  signal: AbortSignal;
  onAbort(): void;
}

/**
 * A small pool of query worker processes: spawned lazily, kept while idle (until `idleTimeoutMs`),
 * replaced on next need after one is killed. Callers beyond `size` wait in FIFO order.
 */
export class WorkerPool {
  readonly #options: WorkerPoolOptions;
  /** Every process not yet exited, including killed ones still dying (close() waits for those too). */
  readonly #all = new Set<QueryWorker>();
  /** Killed workers that have not exited yet; they no longer count against `size`. */
  readonly #dying = new Set<QueryWorker>();
  readonly #idle: QueryWorker[] = [];
  readonly #waiters: Waiter[] = [];
  #closing: Promise<void> | undefined;
  #limit: number;

  constructor(options: WorkerPoolOptions) {
    this.#options = options;
    this.#limit = Math.max(1, options.size);
  }

  /** Most workers alive at once. */
  get limit(): number {
    return this.#limit;
  }

  /**
   * Changes the most workers alive at once. Growing serves waiting callers at once; shrinking retires
   * idle workers beyond the new size, and busy ones leave as they finish.
   */
  resize(size: number): void {
    this.#limit = Math.max(1, Math.floor(size));
    while (this.size > this.#limit && this.#idle.length > 0) {
      const w = this.#idle.shift() as QueryWorker;
      clearTimeout(w.idleTimer);
      w.retire();
      this.#dying.add(w);
    }
    while (this.#waiters.length > 0 && this.size < this.#limit) this.#refill();
  }

  /** Workers alive now, idle or busy (not counting killed ones still exiting). */
  get size(): number {
    return this.#all.size - this.#dying.size;
  }

  /** Hands out an idle worker, a new one, or waits for one; rejects with `signal.reason` if it aborts first. */
  acquire(signal: AbortSignal): Promise<QueryWorker> {
    if (this.#closing !== undefined) return Promise.reject(new PoolClosedError("the worker pool is closed"));
    if (signal.aborted) return Promise.reject(signal.reason);
    const idle = this.#idle.pop();
    if (idle !== undefined) {
      clearTimeout(idle.idleTimer);
      idle.setRef(true);
      return Promise.resolve(idle);
    }
    if (this.size < this.#limit) {
      try {
        return Promise.resolve(this.#spawn());
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          removeFrom(this.#waiters, waiter);
          reject(signal.reason);
        },
      };
      signal.addEventListener("abort", waiter.onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** Returns a worker that answered; it goes to the next waiter or rests idle. */
  release(worker: QueryWorker): void {
    if (worker.gone) return this.#refill();
    if (this.#closing !== undefined) return worker.retire();
    if (this.size > this.#limit) {
      // The pool shrank while this worker was busy.
      this.#dying.add(worker);
      worker.retire();
      return this.#refill();
    }
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      waiter.signal.removeEventListener("abort", waiter.onAbort);
      waiter.resolve(worker);
      return;
    }
    worker.setRef(false);
    if (Number.isFinite(this.#options.idleTimeoutMs)) {
      worker.idleTimer = setTimeout(() => {
        removeFrom(this.#idle, worker);
        worker.retire();
      }, this.#options.idleTimeoutMs);
      worker.idleTimer.unref();
    }
    this.#idle.push(worker);
  }

  /** Kills a worker whose query must stop now; a waiting caller gets a fresh worker in its place. */
  discard(worker: QueryWorker): void {
    if (!worker.gone) this.#dying.add(worker);
    worker.kill();
    this.#refill();
  }

  /** Stops handing out workers, rejects waiters, retires idle workers and kills busy ones; idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const w of this.#waiters.splice(0)) {
        w.signal.removeEventListener("abort", w.onAbort);
        w.reject(new PoolClosedError("the worker pool closed"));
      }
      const idle = new Set(this.#idle.splice(0));
      for (const w of this.#all) {
        clearTimeout(w.idleTimer);
        if (idle.has(w)) w.retire();
        else w.kill();
      }
      await Promise.all([...this.#all].map((w) => w.exited));
    })();
    return this.#closing;
  }

  #spawn(): QueryWorker {
    if (!inSingleExecutable() && !existsSync(this.#options.workerPath)) {
      throw new WorkerExitedError(`query worker not found at ${this.#options.workerPath}; build the agent first (pnpm build)`);
    }
    const worker = new QueryWorker(this.#options.workerPath, (w) => {
      this.#all.delete(w);
      this.#dying.delete(w);
      removeFrom(this.#idle, w);
      this.#refill();
    }, this.#options.memoryLimitBytes, this.#options.v8Flags ?? WORKER_V8_FLAGS);
    this.#all.add(worker);
    return worker;
  }

  /** After a worker left the pool, starts a replacement for the first waiter, if any. */
  #refill(): void {
    if (this.#closing !== undefined || this.#waiters.length === 0 || this.size >= this.#limit) return;
    const waiter = this.#waiters.shift() as Waiter;
    waiter.signal.removeEventListener("abort", waiter.onAbort);
    try {
      waiter.resolve(this.#spawn());
    } catch (err) {
      waiter.reject(err);
    }
  }
}

function removeFrom<T>(list: T[], item: T): void {
  const at = list.indexOf(item);
  if (at >= 0) list.splice(at, 1);
}
