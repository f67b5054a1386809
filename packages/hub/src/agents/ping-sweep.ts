import { performance } from "node:perf_hooks";
import { setImmediate as nextTurn } from "node:timers/promises";
import type { AgentConnection } from "./agent-connection.js";

/** Loop time one turn of a sweep takes at most: pinging 20,000 sockets at once would hold the loop for ~0.3 s. */
export const SWEEP_SLICE_MS = 1;

/**
 * The liveness sweep: every interval, each connection is pinged, or terminated when it did not pong since
 * the last ping. The connections are taken a slice of loop time per turn, so a live query's request or
 * reply waits for one slice at most, never for the whole fleet's pings.
 */
export class PingSweep {
  readonly #connections: () => Iterable<Pick<AgentConnection, "sweep">>;
  readonly #intervalMs: number;
  readonly #sliceMs: number;
  #timer: NodeJS.Timeout | undefined;
  #sweeping = false;
  #stopped = false;

  constructor(connections: () => Iterable<Pick<AgentConnection, "sweep">>, intervalMs: number, sliceMs = SWEEP_SLICE_MS) {
    this.#connections = connections;
    this.#intervalMs = intervalMs;
    this.#sliceMs = sliceMs;
  }

  start(): void {
    this.#stopped = false;
    this.#timer ??= setInterval(() => void this.#sweep(), this.#intervalMs);
  }

  /** Stops sweeping: a sweep under way leaves the rest of its connections alone. */
  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #sweep(): Promise<void> {
    // A sweep still going (a loop too busy to finish it in an interval) goes on; the next starts after it.
    if (this.#sweeping) return;
    this.#sweeping = true;
    try {
      let end = performance.now() + this.#sliceMs;
      for (const connection of [...this.#connections()]) {
        if (performance.now() >= end) {
          await nextTurn();
          end = performance.now() + this.#sliceMs;
        }
        if (this.#stopped) return;
        connection.sweep();
      }
    } finally {
      this.#sweeping = false;
    }
  }
}
