import { performance, type EventLoopUtilization } from "node:perf_hooks";

/** Shares (0–1) of the last complete window. */
export interface LoopShares {
  /** The event loop's utilization: the share of time it spent running code rather than waiting for I/O. */
  loop: number;
  /** The share of it one piece of background work took (its own busy time, `busyMs`). */
  own: number;
}

/**
 * How busy this process's event loop was lately, and how much of it went to one piece of background work
 * (the scheduler's slices): utilizations over the last complete window of `windowMs`
 * (`performance.eventLoopUtilization`). Read at every tick of the scheduler, which starts new runs only
 * while the loop keeps up.
 */
export class LoopLoad {
  readonly #windowMs: number;
  readonly #busyMs: () => number;
  #mark: EventLoopUtilization = performance.eventLoopUtilization();
  #markAt = performance.now();
  #markBusy: number;
  #shares: LoopShares = { loop: 0, own: 0 };

  constructor(windowMs: number, busyMs: () => number) {
    this.#windowMs = windowMs;
    this.#busyMs = busyMs;
    this.#markBusy = busyMs();
  }

  /** The shares over the last complete window. */
  shares(): LoopShares {
    const now = performance.now();
    if (now - this.#markAt >= this.#windowMs) {
      const mark = performance.eventLoopUtilization();
      const busy = this.#busyMs();
      this.#shares = { loop: performance.eventLoopUtilization(mark, this.#mark).utilization, own: (busy - this.#markBusy) / (now - this.#markAt) };
      this.#mark = mark;
      this.#markAt = now;
      this.#markBusy = busy;
    }
    return this.#shares;
  }
}
