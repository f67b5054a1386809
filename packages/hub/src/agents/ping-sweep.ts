import { performance } from "node:perf_hooks";
import type { AgentConnection } from "./agent-connection.js";

/** Loop time one turn of a sweep takes at most: pinging 20,000 sockets at once would hold the loop for ~0.3 s. */
export const SWEEP_SLICE_MS = 1;

/**
 * The liveness sweep: every interval, each connection is pinged, or terminated when it
 * did not pong since the last ping. The connections are taken a slice of loop time per turn, so a live
 * query's request or reply waits for one slice at most, never for the whole fleet's pings.
 */
export class PingSweep {
  readonly #connections: () => Iterable<Pick<AgentConnection, "sweep">>;
  readonly #intervalMs: number;
  readonly #sliceMs: number;
  #timer: NodeJS.Timeout | undefined;
  #pump: NodeJS.Immediate | undefined;
  #batch: Pick<AgentConnection, "sweep">[] = [];
  #next = 0;

  constructor(connections: () => Iterable<Pick<AgentConnection, "sweep">>, intervalMs: number, sliceMs = SWEEP_SLICE_MS) {
    this.#connections = connections;
    this.#intervalMs = intervalMs;
    this.#sliceMs = sliceMs;
  }

  start(): void {
    this.#timer ??= setInterval(() => this.#begin(), this.#intervalMs);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    clearImmediate(this.#pump);
    this.#pump = undefined;
    this.#batch = [];
  }

  #begin(): void {
    // A sweep still going (a loop too busy to finish it in an interval) goes on; the next starts after it.
    if (this.#pump !== undefined) return;
    this.#batch = [...this.#connections()];
    this.#next = 0;
    this.#slice();
  }

  #slice(): void {
    this.#pump = undefined;
    const end = performance.now() + this.#sliceMs;
    while (this.#next < this.#batch.length) {
      this.#batch[this.#next++]!.sweep();
      if (performance.now() >= end) break;
    }
    if (this.#next < this.#batch.length) this.#pump = setImmediate(() => this.#slice());
    else this.#batch = [];
  }
}
