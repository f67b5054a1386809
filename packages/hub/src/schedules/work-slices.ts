import { performance } from "node:perf_hooks";

interface Job {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * Background work done in slices of loop time: queued jobs run in order, at most `sliceMs` of them per
 * turn of the event loop, each slice in a turn of its own (`setImmediate`, after the loop polled for I/O).
 * A live query's request or reply arriving while thousands of jobs wait is therefore served after one
 * slice at most, never after the whole backlog.
 */
export class WorkSlices {
  #sliceMs: number;
  #jobs: Job[] = [];
  #head = 0;
  #pump: NodeJS.Immediate | undefined;
  #busyMs = 0;

  constructor(sliceMs: number) {
    this.#sliceMs = sliceMs;
  }

  /** Loop time spent in slices so far (ms): the share of the loop this background work takes. */
  get busyMs(): number {
    return this.#busyMs;
  }

  /** Jobs waiting for a slice. */
  get waiting(): number {
    return this.#jobs.length - this.#head;
  }

  /**
   * From now on every job runs in the next turn, however many wait: for a process shutting down, whose
   * loop is busy closing connections in long turns, so that its remaining jobs are not spread over many.
   */
  unbound(): void {
    this.#sliceMs = Infinity;
  }

  /**
   * Runs `work` in a coming slice; resolves (or rejects) with what it returns (a promise's continuation runs
   * outside the slice: a job's own part is what it does synchronously).
   */
  run<T>(work: () => T | Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#jobs.push({ work, resolve: resolve as (value: unknown) => void, reject });
      this.#pump ??= setImmediate(() => this.#slice());
    });
  }

  #slice(): void {
    this.#pump = undefined;
    const start = performance.now();
    const end = start + this.#sliceMs;
    while (this.#head < this.#jobs.length) {
      const job = this.#jobs[this.#head]!;
      this.#jobs[this.#head++] = undefined as unknown as Job;
      try {
        job.resolve(job.work());
      } catch (err) {
        job.reject(err);
      }
      if (performance.now() >= end) break;
    }
    this.#busyMs += performance.now() - start;
    if (this.#head < this.#jobs.length) {
      // Compacted once the consumed half is large, so the queue's memory follows its backlog.
      if (this.#head > 1024 && this.#head * 2 > this.#jobs.length) {
        this.#jobs = this.#jobs.slice(this.#head);
        this.#head = 0;
      }
      this.#pump = setImmediate(() => this.#slice());
    } else {
      this.#jobs = [];
      this.#head = 0;
    }
  }
}
