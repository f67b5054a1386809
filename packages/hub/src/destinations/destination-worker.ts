import type { Logger } from "../logger.js";
import type { HubMetrics } from "../metrics.js";
import type { DestinationRecord, Store } from "../store/store.js";
import type { Sink } from "./sink.js";

export interface WorkerSettings {
  /** How long a claim of the destination lasts; renewed every third of it while the worker runs. */
  leaseMs: number;
  /** First retry delay after a failed attempt; doubled per failure up to `retryMaxMs`, with jitter. */
  retryMinMs: number;
  retryMaxMs: number;
  /** How often an idle worker looks at the outbox when no event woke it (one missed from another replica). */
  pollMs: number;
}

/**
 * Delivers one destination while this hub holds its lease: reads the outbox after the cursor, hands the
 * events to the sink, and moves the cursor only once the sink has them, so delivery is at least once. A
 * failed attempt is retried, with exponential backoff and jitter, on the same event: nothing after it is
 * delivered before it, so order holds (per schedule and per policy, since it holds for all).
 *
 *   claim ──► read outbox after cursor ──► sink.deliver ──ok──► advance cursor ──┐
 *     ▲             │ empty                    │ failed                         │
 *     │             ▼                          ▼                                │
 *     └──── wait (wake or poll) ◄──────── backoff, same events ◄─────────────────┘
 *
 * It stops for good when the lease is lost or the destination deleted (a claim or an advance refused),
 * or when {@link stop} is called; the dispatcher may start a new one later.
 */
export class DestinationWorker {
  readonly id: string;
  readonly #store: Store;
  readonly #sink: Sink;
  readonly #kind: DestinationRecord["kind"];
  readonly #replicaId: string;
  readonly #settings: WorkerSettings;
  readonly #metrics: HubMetrics;
  readonly #log: Logger;
  readonly #abort = new AbortController();
  #cursor: number;
  #wake: (() => void) | undefined;
  /** Woken while not idle: the next idle wait is skipped (the events may have come after the last read). */
  #woken = false;
  #renewer: NodeJS.Timeout | undefined;
  readonly done: Promise<void>;

  constructor(deps: { destination: DestinationRecord; sink: Sink; store: Store; replicaId: string; settings: WorkerSettings; metrics: HubMetrics; log: Logger }) {
    this.id = deps.destination.id;
    this.#kind = deps.destination.kind;
    this.#cursor = deps.destination.cursor;
    this.#store = deps.store;
    this.#sink = deps.sink;
    this.#replicaId = deps.replicaId;
    this.#settings = deps.settings;
    this.#metrics = deps.metrics;
    this.#log = deps.log.child({ destinationId: this.id, kind: this.#kind });
    // A delivery attempt may outlast a lease (the webhook timeout): the lease is renewed beside it, and
    // losing it aborts the attempt, so no two replicas deliver one destination at once for long.
    this.#renewer = setInterval(() => void this.#renew(), Math.max(1, Math.floor(this.#settings.leaseMs / 3)));
    this.done = this.#run().finally(() => clearInterval(this.#renewer));
  }

  get stopped(): boolean {
    return this.#abort.signal.aborted;
  }

  /** There may be new events: an idle worker looks now. */
  wake(): void {
    this.#woken = true;
    this.#wake?.();
  }

  /** Stops at once: an attempt in flight is aborted (its event stays owed); resolves when the loop is over. */
  stop(reason: string): Promise<void> {
    if (!this.stopped) {
      this.#log.info({ reason }, "destination delivery stopped");
      this.#abort.abort(new Error(reason));
    }
    return this.done;
  }

  async #renew(): Promise<void> {
    if (this.stopped) return;
    try {
      if (!(await this.#store.claimDestination(this.id, this.#replicaId, this.#settings.leaseMs))) void this.stop("lease lost or destination deleted");
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, "renewing the destination's lease failed");
    }
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        // Before every attempt: a destination deleted (on any replica) gets nothing more.
        if (!(await this.#store.claimDestination(this.id, this.#replicaId, this.#settings.leaseMs))) {
          void this.stop("lease lost or destination deleted");
          return;
        }
        const events = await this.#store.listOutbox(this.#cursor, this.#sink.batchSize);
        if (events.length === 0) {
          await this.#pause(this.#settings.pollMs);
          continue;
        }
        try {
          await this.#sink.deliver(events, this.#abort.signal);
        } catch (err) {
          if (this.stopped) return;
          failures++;
          const message = (err as Error).message;
          this.#metrics.destinationFailures.inc({ kind: this.#kind });
          const delayMs = backoff(failures, this.#settings.retryMinMs, this.#settings.retryMaxMs);
          this.#log.warn({ seq: events[0]!.seq, attempt: failures, err: message, retryInMs: delayMs }, "destination delivery failed; retrying");
          await this.#store.recordDestinationFailure(this.id, this.#replicaId, message, Date.now());
          await this.#pause(delayMs, true);
          continue;
        }
        failures = 0;
        const last = events.at(-1)!.seq;
        this.#metrics.destinationDeliveries.inc({ kind: this.#kind }, events.length);
        this.#log.debug({ from: events[0]!.seq, to: last, count: events.length }, "delivered to destination");
        if (!(await this.#store.advanceDestination(this.id, this.#replicaId, last))) {
          void this.stop("lease lost or destination deleted");
          return;
        }
        this.#cursor = last;
      } catch (err) {
        // The store failed: try again after a pause, from the cursor as it was.
        if (this.stopped) return;
        this.#log.warn({ err: (err as Error).message }, "destination delivery could not reach the store; retrying");
        await this.#pause(this.#settings.pollMs, true);
      }
    }
  }

  /** Waits `ms`, or less when woken (unless `backoff`: a retry waits its full delay) or stopped. */
  #pause(ms: number, backoff = false): Promise<void> {
    if (!backoff && this.#woken) {
      this.#woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const signal = this.#abort.signal;
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        this.#wake = undefined;
        this.#woken = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
      if (!backoff) this.#wake = done;
    });
  }
}

/** The delay before retry `n` (1, 2, …): `min · 2^(n−1)` capped at `max`, then jittered down by up to half. */
export function backoff(n: number, minMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(n - 1, 30));
  return Math.round(ceiling * (0.5 + Math.random() * 0.5));
}
