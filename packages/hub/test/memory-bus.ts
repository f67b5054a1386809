import { BusMessage, HEARTBEAT_EVERY_MS, HEARTBEAT_TTL_MS, type BusHandlers, type ClusterBus, type Ownership, type Takeover } from "../src/cluster/cluster-bus.js";
import type { HubEventRecord } from "../src/store/store.js";

/**
 * What several in-memory replicas share, as Redis holds it for real ones: ownership, heartbeats (with their
 * TTL, on `Date.now()`, so fake timers drive them), the takeovers recorded per replica, and the channels.
 * A test helper: the cluster router's unit tests run replicas over it in one process, without Redis.
 *
 * - `kill(id)`: the replica hears nothing more and its heartbeat stops; its ownership stays (kill -9).
 * - `flush()`: everything forgotten (Redis restarted without persistence).
 * - `drop`: messages it matches are lost on the way, as Pub/Sub may lose them.
 */
export class MemoryBroker {
  readonly #ownership = new Map<string, Ownership>();
  /** Replica → when its heartbeat expires. */
  readonly #heartbeats = new Map<string, number>();
  readonly #taken = new Map<string, Takeover[]>();
  readonly #buses = new Map<string, MemoryBus>();
  /** Lease name → its holder and when it lapses (`Date.now()`). */
  readonly #leases = new Map<string, { holder: string; until: number }>();
  #epoch = 0;
  drop: (to: string, message: BusMessage) => boolean = () => false;

  /** A replica joining the bus; its heartbeat starts at once. */
  join(replicaId: string): MemoryBus {
    const bus = new MemoryBus(this, replicaId);
    this.#buses.set(replicaId, bus);
    this.beat(replicaId);
    return bus;
  }

  kill(replicaId: string): void {
    this.#buses.get(replicaId)?.stop();
    this.#buses.delete(replicaId);
  }

  /** Takes or renews a lease for `replicaId` (as RedisBus's LEASE script does); true when it holds it now. */
  lease(replicaId: string, name: string, ttlMs: number): boolean {
    const current = this.#leases.get(name);
    if (current !== undefined && current.holder !== replicaId && current.until > Date.now()) return false;
    this.#leases.set(name, { holder: replicaId, until: Date.now() + ttlMs });
    return true;
  }

  releaseLease(replicaId: string, name: string): void {
    if (this.#leases.get(name)?.holder === replicaId) this.#leases.delete(name);
  }

  flush(): void {
    this.#leases.clear();
    this.#ownership.clear();
    this.#heartbeats.clear();
    this.#taken.clear();
  }

  /** The recorded ownership of an agent (whether or not its replica is alive). */
  ownership(agentId: string): Ownership | undefined {
    return this.#ownership.get(agentId);
  }

  alive(replicaId: string): boolean {
    return (this.#heartbeats.get(replicaId) ?? 0) > Date.now();
  }

  /** Writes the heartbeat; returns whether it was still current, and takes the takeovers recorded for the replica. */
  beat(replicaId: string): { current: boolean; taken: Takeover[] } {
    const current = this.alive(replicaId);
    this.#heartbeats.set(replicaId, Date.now() + HEARTBEAT_TTL_MS);
    const taken = this.#taken.get(replicaId) ?? [];
    this.#taken.delete(replicaId);
    return { current, taken };
  }

  leave(replicaId: string): void {
    this.#heartbeats.delete(replicaId);
    this.#buses.delete(replicaId);
  }

  claim(replicaId: string, agentId: string): { epoch: number; previous: Ownership | null } {
    const epoch = ++this.#epoch;
    const previous = this.#ownership.get(agentId) ?? null;
    this.#ownership.set(agentId, { replicaId, epoch });
    if (previous !== null && previous.replicaId !== replicaId && this.alive(previous.replicaId)) {
      const list = this.#taken.get(previous.replicaId) ?? [];
      list.push({ t: "takeover", agentId, by: replicaId, epoch: previous.epoch });
      this.#taken.set(previous.replicaId, list);
    }
    return { epoch, previous };
  }

  release(replicaId: string, agentId: string, epoch: number): void {
    const current = this.#ownership.get(agentId);
    if (current?.replicaId === replicaId && current.epoch === epoch) this.#ownership.delete(agentId);
  }

  restore<T extends { agentId: string; epoch: number }>(replicaId: string, held: readonly T[]): { held: T; owner: Ownership }[] {
    const lost: { held: T; owner: Ownership }[] = [];
    for (const h of held) {
      const current = this.#ownership.get(h.agentId);
      if (current === undefined || current.epoch < h.epoch || (current.replicaId === replicaId && current.epoch === h.epoch)) this.#ownership.set(h.agentId, { replicaId, epoch: h.epoch });
      else lost.push({ held: h, owner: current });
    }
    return lost;
  }

  owner(agentId: string): string | null {
    const current = this.#ownership.get(agentId);
    return current !== undefined && this.alive(current.replicaId) ? current.replicaId : null;
  }

  /** Delivers on a later microtask, through JSON and the schema as a real channel would; returns the receivers. */
  send(to: string, message: BusMessage): number {
    const bus = this.#buses.get(to);
    if (bus === undefined) return 0;
    if (!this.drop(to, message)) {
      const copy = BusMessage.parse(JSON.parse(JSON.stringify(message)));
      queueMicrotask(() => bus.handlers?.message(copy));
    }
    return 1;
  }

  publishEvents(from: string, events: HubEventRecord[]): void {
    for (const [id, bus] of this.#buses) if (id !== from) queueMicrotask(() => bus.handlers?.events(events));
  }
}

/** One replica's view of a {@link MemoryBroker}. */
export class MemoryBus implements ClusterBus {
  handlers: BusHandlers | undefined;
  readonly #broker: MemoryBroker;
  readonly #timer: NodeJS.Timeout;
  #closed = false;

  constructor(broker: MemoryBroker, readonly replicaId: string) {
    this.#broker = broker;
    this.#timer = setInterval(() => {
      const { current, taken } = broker.beat(replicaId);
      if (!current) this.handlers?.restored();
      if (taken.length > 0) this.handlers?.takenOver(taken);
    }, HEARTBEAT_EVERY_MS);
  }

  /** The heartbeat stops (the replica was killed). */
  stop(): void {
    clearInterval(this.#timer);
    this.#closed = true;
  }

  ready(): boolean {
    return !this.#closed;
  }

  listen(handlers: BusHandlers): void {
    this.handlers = handlers;
  }

  async claim(agentId: string): Promise<{ epoch: number; previous: Ownership | null }> {
    return this.#broker.claim(this.replicaId, agentId);
  }

  async release(agentId: string, epoch: number): Promise<void> {
    this.#broker.release(this.replicaId, agentId, epoch);
  }

  async restore<T extends { agentId: string; epoch: number }>(held: readonly T[]): Promise<{ held: T; owner: Ownership }[]> {
    return this.#broker.restore(this.replicaId, held);
  }

  async owners(agentIds: string[]): Promise<(string | null)[]> {
    return agentIds.map((id) => this.#broker.owner(id));
  }

  async alive(replicaId: string): Promise<boolean> {
    return this.#broker.alive(replicaId);
  }

  async send(replicaId: string, message: BusMessage): Promise<number> {
    return this.#broker.send(replicaId, message);
  }

  async lease(name: string, ttlMs: number): Promise<boolean> {
    if (this.#closed) throw new Error("the bus is closed");
    return this.#broker.lease(this.replicaId, name, ttlMs);
  }

  async releaseLease(name: string): Promise<void> {
    this.#broker.releaseLease(this.replicaId, name);
  }

  async publishEvents(events: HubEventRecord[]): Promise<void> {
    this.#broker.publishEvents(this.replicaId, events);
  }

  async close(): Promise<void> {
    this.stop();
    this.#broker.leave(this.replicaId);
  }
}
