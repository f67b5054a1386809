import type { EventLog } from "../events/event-log.js";
import type { Logger } from "../logger.js";
import type { HubMetrics } from "../metrics.js";
import { closeOutOpenWork, replicaLost } from "../queries/open-work.js";
import type { Store } from "../store/store.js";
import type { ClusterBus } from "./cluster-bus.js";

/** How often the owners of open work are checked for a heartbeat. */
export const LOST_REPLICA_SWEEP_MS = 1_000;
/**
 * How long a replica's heartbeat must stay missing (while this replica's own bus stays up) before its
 * open work is closed out. Longer than a Redis reconnect (≤ 2 s), so a Redis restart, after which every
 * heartbeat is briefly missing, never passes for a dead replica.
 */
export const LOST_REPLICA_CONFIRM_MS = 5_000;

/**
 * Finds replicas that died with work open and closes that work out as `replica_lost`:
 *
 *   every second:  owners of pending commands / unfinished fan-outs (store)
 *                  └─ heartbeat key gone (Redis)?  first seen missing → suspect
 *                     still missing 5 s later      → closeOpenWork(owner)  (one transaction)
 *
 * Every replica runs this; the store's close-out is atomic, so when several find the same dead replica at
 * once each row and fan-out is closed by exactly one of them, and only that one announces it.
 */
export class LostReplicaSweeper {
  readonly #deps: { store: Store; bus: ClusterBus; events: EventLog; metrics: HubMetrics; log: Logger };
  /** Replica → when its heartbeat was first seen missing. */
  readonly #suspects = new Map<string, number>();
  readonly #timer: NodeJS.Timeout;
  #sweeping: Promise<void> | undefined;

  constructor(deps: { store: Store; bus: ClusterBus; events: EventLog; metrics: HubMetrics; log: Logger }) {
    this.#deps = deps;
    this.#timer = setInterval(() => void this.sweep(), LOST_REPLICA_SWEEP_MS);
  }

  /** One pass; never rejects. Passes do not overlap. */
  sweep(): Promise<void> {
    this.#sweeping ??= this.#sweep()
      .catch((err: unknown) => this.#deps.log.warn({ err: (err as Error).message }, "looking for replicas lost with open work failed"))
      .finally(() => (this.#sweeping = undefined));
    return this.#sweeping;
  }

  /** Stops sweeping; resolves once a pass in progress has ended. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#sweeping;
  }

  async #sweep(): Promise<void> {
    const { store, bus } = this.#deps;
    // Without our own connection to Redis every heartbeat looks missing: judge nobody, forget suspicions.
    if (!bus.ready()) return this.#suspects.clear();
    const owners = (await store.openWorkOwners()).filter((o) => o !== bus.replicaId);
    for (const suspect of this.#suspects.keys()) if (!owners.includes(suspect)) this.#suspects.delete(suspect);
    for (const owner of owners) {
      if (await bus.alive(owner)) {
        this.#suspects.delete(owner);
        continue;
      }
      if (!bus.ready()) return this.#suspects.clear();
      const since = this.#suspects.get(owner);
      if (since === undefined) {
        this.#suspects.set(owner, Date.now());
        continue;
      }
      if (Date.now() - since < LOST_REPLICA_CONFIRM_MS) continue;
      this.#suspects.delete(owner);
      await closeOutOpenWork(this.#deps, owner, replicaLost(owner));
    }
  }
}
