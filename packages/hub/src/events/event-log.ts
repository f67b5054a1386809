import { DESTINATION_EVENT_TYPES } from "@uplink/protocol";
import { DEFAULT_EVENT_MAX_ROWS } from "../config.js";
import type { Logger } from "../logger.js";
import type { HubMetrics } from "../metrics.js";
import type { HubEventRecord, HubEventType, NewHubEvent, Store } from "../store/store.js";

export type EventListener = (event: HubEventRecord) => void;

/**
 * The hub's event log: every event is appended to the store (which gives it its seq, the SSE id) and
 * then handed to live listeners, in seq order. Appends are batched per turn of the event loop into one
 * transaction, so a reconnect storm of thousands of agents costs a few writes, not thousands.
 */
export class EventLog {
  readonly #store: Store;
  readonly #log: Logger;
  readonly #maxEvents: number;
  readonly #listeners = new Set<EventListener>();
  #queue: NewHubEvent[] = [];
  #scheduled: NodeJS.Immediate | undefined;
  /** The flush in progress; flushes run one at a time so listeners see seq order. */
  #flushing: Promise<void> = Promise.resolve();
  #relay: ((events: HubEventRecord[]) => void) | undefined;

  readonly #metrics: HubMetrics;
  /** The types also written to the destinations' outbox, in the same transaction (destinations/): schedule.result and policy.changed. */
  readonly outboxTypes: readonly HubEventType[];

  constructor(deps: { store: Store; log: Logger; metrics: HubMetrics; maxEvents?: number }) {
    this.#store = deps.store;
    this.#log = deps.log;
    this.#metrics = deps.metrics;
    this.#maxEvents = deps.maxEvents ?? DEFAULT_EVENT_MAX_ROWS;
    this.outboxTypes = DESTINATION_EVENT_TYPES;
  }

  /** The number of events the log keeps for replay (the pruner, store/pruner.ts, enforces it; 0 is no bound). */
  get maxEvents(): number {
    return this.#maxEvents;
  }

  /** Queues an event; it is stored and delivered within this turn of the event loop. */
  publish(type: HubEventType, data: Record<string, unknown>): void {
    this.#queue.push({ type, data, createdAt: Date.now() });
    this.#metrics.eventsPublished.inc({ type });
    this.#scheduled ??= setImmediate(() => {
      this.#scheduled = undefined;
      this.#flushing = this.#flushing.then(() => this.#flush());
    });
  }

  /** Called with every batch this log stored (cluster mode relays it to the other replicas). */
  relay(onStored: (events: HubEventRecord[]) => void): void {
    this.#relay = onStored;
  }

  /** Hands events stored by another replica to this replica's live listeners. */
  deliver(events: HubEventRecord[]): void {
    this.#notify(events);
  }

  /** Live events from now on; returns the unsubscribe function. */
  subscribe(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Stored events after `afterSeq`, oldest first. */
  replay(afterSeq: number, limit: number): Promise<HubEventRecord[]> {
    return this.#store.listEvents(afterSeq, limit);
  }

  /** Stores and delivers what is queued; call before closing the store. */
  async drain(): Promise<void> {
    if (this.#scheduled !== undefined) {
      clearImmediate(this.#scheduled);
      this.#scheduled = undefined;
      this.#flushing = this.#flushing.then(() => this.#flush());
    }
    await this.#flushing;
  }

  #notify(events: HubEventRecord[]): void {
    for (const event of events) {
      for (const listener of this.#listeners) {
        try {
          listener(event);
        } catch (err) {
          this.#log.error({ err }, "event listener failed");
        }
      }
    }
  }

  async #flush(): Promise<void> {
    const batch = this.#queue;
    this.#queue = [];
    if (batch.length === 0) return;
    let stored: HubEventRecord[];
    try {
      stored = await this.#store.appendEvents(batch, this.outboxTypes);
    } catch (err) {
      this.#log.error({ err, lost: batch.length }, "storing hub events failed");
      return;
    }
    this.#notify(stored);
    this.#relay?.(stored);
  }
}
