import type { EventLog } from "../events/event-log.js";
import type { Logger } from "../logger.js";
import type { HubMetrics } from "../metrics.js";
import type { DestinationRecord, HubEventType, Store } from "../store/store.js";
import { DestinationWorker, type WorkerSettings } from "./destination-worker.js";
import { FileSink } from "./file-sink.js";
import type { Sink } from "./sink.js";
import { WebhookSink } from "./webhook-sink.js";

/** How long a replica's claim on a destination lasts unrenewed: a dead replica's are taken over within it. */
export const DESTINATION_LEASE_MS = 5_000;
/** How often each replica looks for destinations nobody delivers (new ones, or a dead replica's). */
export const DESTINATION_SCAN_MS = 1_000;

/** The hub's destination settings (config.ts); the lease and the scan interval are fixed but for tests. */
export interface DeliverySettings extends Omit<WorkerSettings, "leaseMs" | "pollMs"> {
  timeoutMs: number;
  fileMaxBytes: number;
  fileKeep: number;
  leaseMs?: number;
  scanMs?: number;
}

/**
 * Pushes the events of the event log's outbox types (DESTINATION_EVENT_TYPES, the protocol's: those of
 * scheduled queries and policies) to every destination, each by one worker on the one
 * hub (replica) that holds the destination's lease in the store: so one destination's events go out one
 * at a time, in seq order, whichever replica delivers it, and a dead replica's destinations are taken
 * over once their lease lapses (within {@link DESTINATION_LEASE_MS} and a scan).
 *
 * Why an outbox: each delivered event is copied into the store's outbox in the transaction that appends
 * it to the event log (Store.appendEvents), and each destination keeps a cursor over the outbox. The
 * outbox is pruned only behind the slowest destination, so a destination that fails for days loses
 * nothing; the event log keeps its own retention, so a failing destination never makes it grow, and a
 * flood of agent events never pushes a result out of the outbox.
 */
export class DestinationDelivery {
  readonly #store: Store;
  readonly #log: Logger;
  readonly #metrics: HubMetrics;
  readonly #replicaId: string;
  readonly #embedded: boolean;
  readonly #settings: Required<DeliverySettings>;
  readonly #types: readonly HubEventType[];
  readonly #workers = new Map<string, DestinationWorker>();
  #unsubscribe: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #scanning: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(deps: { store: Store; events: EventLog; metrics: HubMetrics; log: Logger; replicaId: string; embedded: boolean; settings: DeliverySettings }) {
    this.#store = deps.store;
    this.#metrics = deps.metrics;
    this.#log = deps.log.child({ component: "destinations" });
    this.#replicaId = deps.replicaId;
    this.#embedded = deps.embedded;
    this.#settings = { leaseMs: DESTINATION_LEASE_MS, scanMs: DESTINATION_SCAN_MS, ...deps.settings };
    this.#types = deps.events.outboxTypes;
    this.#unsubscribe = deps.events.subscribe((event) => {
      if (this.#types.includes(event.type)) for (const worker of this.#workers.values()) worker.wake();
    });
  }

  /** Starts scanning for destinations to deliver (the embedded store first drops its previous process's leases). */
  async start(): Promise<void> {
    if (this.#embedded) await this.#store.releaseDestinations(null);
    this.#stopped = false;
    this.#scan();
  }

  /** Stops delivering `id` here at once (it was deleted). */
  async forget(id: string): Promise<void> {
    await this.#workers.get(id)?.stop("destination deleted");
  }

  /** Stops every worker (aborting attempts in flight) and gives up this hub's leases, so another takes over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#unsubscribe?.();
    await this.#scanning;
    await Promise.all([...this.#workers.values()].map((w) => w.stop("hub shutting down")));
    this.#workers.clear();
    await this.#store.releaseDestinations(this.#replicaId).catch((err: unknown) => this.#log.warn({ err: (err as Error).message }, "releasing destination leases failed"));
  }

  #scan(): void {
    this.#scanning = this.#claimFree()
      .catch((err: unknown) => this.#log.warn({ err: (err as Error).message }, "looking for destinations to deliver failed"))
      .finally(() => {
        if (!this.#stopped) this.#timer = setTimeout(() => this.#scan(), this.#settings.scanMs);
      });
  }

  async #claimFree(): Promise<void> {
    const destinations = await this.#store.listDestinations();
    for (const d of destinations) {
      if (this.#stopped) return;
      const running = this.#workers.get(d.id);
      if (running !== undefined && !running.stopped) continue;
      if (!(await this.#store.claimDestination(d.id, this.#replicaId, this.#settings.leaseMs))) continue;
      // The cursor as it is now that this hub holds the lease (another may have moved it since the list).
      const claimed = await this.#store.findDestination(d.id);
      if (claimed === undefined || this.#stopped) continue;
      this.#start(claimed);
    }
  }

  #start(destination: DestinationRecord): void {
    const worker = new DestinationWorker({
      destination,
      sink: this.#sink(destination),
      store: this.#store,
      replicaId: this.#replicaId,
      settings: { leaseMs: this.#settings.leaseMs, retryMinMs: this.#settings.retryMinMs, retryMaxMs: this.#settings.retryMaxMs, pollMs: this.#settings.scanMs },
      metrics: this.#metrics,
      log: this.#log,
    });
    this.#workers.set(destination.id, worker);
    void worker.done.then(() => {
      if (this.#workers.get(destination.id) === worker) this.#workers.delete(destination.id);
    });
    this.#log.info({ destinationId: destination.id, kind: destination.kind, cursor: destination.cursor }, "delivering destination");
  }

  #sink(d: DestinationRecord): Sink {
    if (d.kind === "file") return new FileSink({ path: d.path!, maxBytes: this.#settings.fileMaxBytes, keep: this.#settings.fileKeep });
    return new WebhookSink({ destinationId: d.id, url: d.url!, secret: d.secret!, timeoutMs: this.#settings.timeoutMs });
  }
}
