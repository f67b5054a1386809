import { performance, type EventLoopUtilization } from "node:perf_hooks";

/**
 * How busy this process's event loop was lately: its utilization (the share of time it spent running
 * code rather than waiting for I/O, `performance.eventLoopUtilization`) over the last complete window of
 * `windowMs`. Read at every tick of the scheduler, which starts new runs only while it is under a ceiling.
 */
export class LoopLoad {
  readonly #windowMs: number;
  #mark: EventLoopUtilization = performance.eventLoopUtilization();
  #markAt = performance.now();
  #utilization = 0;

  constructor(windowMs: number) {
    this.#windowMs = windowMs;
  }

  /** The utilization (0–1) over the last complete window. */
  utilization(): number {
    const now = performance.now();
    if (now - this.#markAt >= this.#windowMs) {
      const mark = performance.eventLoopUtilization();
      this.#utilization = performance.eventLoopUtilization(mark, this.#mark).utilization;
      this.#mark = mark;
      this.#markAt = now;
    }
    return this.#utilization;
  }
}
