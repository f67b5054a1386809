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
  /** Events queued this turn: the live ones, and the background ones (the scheduler's). */
  #queue: NewHubEvent[] = [];
  #backgroundQueue: NewHubEvent[] = [];
  #scheduled: NodeJS.Immediate | undefined;
  /**
   * The flushes in progress, one chain each for live and background events: within a chain they run one
   * at a time, and as both commit on the store's one connection, listeners see seq order.
   */
  #flushing: Promise<void> = Promise.resolve();
  #backgroundFlushing: Promise<void> = Promise.resolve();
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

  /**
   * Queues an event; it is stored and delivered within this turn of the event loop. A `background` one
   * (the scheduler's) is stored with the store's background writes, a few milliseconds later at most.
   */
  publish(type: HubEventType, data: Record<string, unknown>, { background = false } = {}): void {
    (background ? this.#backgroundQueue : this.#queue).push({ type, data, createdAt: Date.now() });
    this.#metrics.eventsPublished.inc({ type });
    this.#scheduled ??= setImmediate(() => this.#flushQueued());
  }

  #flushQueued(): void {
    this.#scheduled = undefined;
    const batch = this.#queue;
    const background = this.#backgroundQueue;
    this.#queue = [];
    this.#backgroundQueue = [];
    if (batch.length > 0) this.#flushing = this.#flushing.then(() => this.#flush(batch, false));
    if (background.length > 0) this.#backgroundFlushing = this.#backgroundFlushing.then(() => this.#flush(background, true));
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
      this.#flushQueued();
    }
    await Promise.all([this.#flushing, this.#backgroundFlushing]);
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

  async #flush(batch: NewHubEvent[], background: boolean): Promise<void> {
    let stored: HubEventRecord[];
    try {
      stored = await this.#store.appendEvents(batch, this.outboxTypes, background);
    } catch (err) {
      this.#log.error({ err, lost: batch.length }, "storing hub events failed");
      return;
    }
    this.#notify(stored);
    this.#relay?.(stored);
  }
}
