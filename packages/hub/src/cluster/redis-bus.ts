import { Redis } from "ioredis";
import { z } from "zod";
import type { Logger } from "../logger.js";
import type { HubEventRecord } from "../store/store.js";
import { BusMessage, HEARTBEAT_EVERY_MS, HEARTBEAT_TTL_MS, type BusHandlers, type ClusterBus, type Ownership, type Takeover } from "./cluster-bus.js";
import { claimCommand, FIND_DEAD, LEASE, OWNERS, parseOwnership, PURGE, RedisKeys, RELEASE, RELEASE_LEASE, RESTORE } from "./redis-scripts.js";

/** How often the replicas whose heartbeat is gone are looked for, to delete the ownership they left. */
export const DEAD_REPLICA_SWEEP_MS = 10_000;
/** Agents per RESTORE or OWNERS call, so that no single script holds Redis for long. */
const CHUNK = 500;
/** Takeovers read per heartbeat at most (more wait for the next one). */
const TAKEN_PER_BEAT = 1_000;

const EventsMessage = z.object({ origin: z.string(), events: z.array(z.object({ seq: z.number(), type: z.string(), data: z.record(z.string(), z.unknown()), createdAt: z.number() })) });
const TakenEntry = z.object({ agentId: z.string(), epoch: z.string(), by: z.string() });

export interface RedisBusOptions {
  url: string;
  /** Key and channel prefix, so several clusters (or test runs) can share one Redis. */
  prefix: string;
  replicaId: string;
  log: Logger;
  /** How often replicas that are gone are looked for (DEAD_REPLICA_SWEEP_MS; shorter in tests). */
  deadSweepMs?: number;
}

/**
 * Redis as the cluster's switchboard (the keys: {@link RedisKeys}). Per replica, whatever it holds: a
 * heartbeat every second (one pipeline: the heartbeat, and the takeovers recorded for it) and a look for
 * dead replicas every 10 s. Per agent: one script on connect and one on disconnect. Pub/Sub is
 * at-most-once; callers keep their own deadlines.
 *
 * Commands fail fast while Redis is unreachable (no offline queue); the subscriber reconnects and
 * resubscribes by itself. Redis may come back empty: the heartbeat finds its own key gone and the
 * replica writes its ownership again (`restored`).
 */
export class RedisBus implements ClusterBus {
  readonly replicaId: string;
  readonly #keys: RedisKeys;
  readonly #log: Logger;
  readonly #cmd: Redis;
  readonly #sub: Redis;
  #handlers: BusHandlers | undefined;
  #connected = false;
  #timers: NodeJS.Timeout[] = [];
  #closing: Promise<void> | undefined;
  /** Replicas found dead by the previous sweep: their ownership is deleted when the next one agrees. */
  #dead = new Set<string>();

  private constructor(opts: RedisBusOptions) {
    this.replicaId = opts.replicaId;
    this.#keys = new RedisKeys(opts.prefix);
    this.#log = opts.log.child({ component: "bus" });
    const common = { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: (n: number) => Math.min(n * 200, 2000) };
    this.#cmd = new Redis(opts.url, { ...common, connectionName: `${opts.replicaId}-cmd` });
    this.#sub = new Redis(opts.url, { ...common, connectionName: `${opts.replicaId}-sub` });
    for (const [name, client] of [["commands", this.#cmd], ["subscriber", this.#sub]] as const) {
      client.on("error", (err: Error) => this.#log.warn({ err: err.message, client: name }, "redis error"));
      client.on("ready", () => this.#log.info({ client: name }, "redis ready"));
    }
    this.#sub.on("messageBuffer", (channel: Buffer, payload: Buffer) => this.#deliver(channel.toString(), payload.toString()));
    // Pub/Sub keeps nothing for a disconnected subscriber: a reply published meanwhile is gone for good.
    this.#sub.on("close", () => {
      if (this.#connected && this.#closing === undefined) this.#handlers?.lost();
    });
    // Ready again after an outage (ioredis has resubscribed): Redis may have lost every key, and notices
    // were surely lost, so the heartbeat and the ownership of held agents are written again at once.
    this.#cmd.on("ready", () => {
      if (this.#connected && this.#closing === undefined) void this.#beat(true);
    });
  }

  /** Connects both clients, subscribes to this replica's channel and the events channel, starts the heartbeat. */
  static async connect(opts: RedisBusOptions): Promise<RedisBus> {
    const bus = new RedisBus(opts);
    await Promise.all([bus.#cmd.connect(), bus.#sub.connect()]);
    await bus.#sub.subscribe(bus.#keys.channel(bus.replicaId), bus.#keys.events());
    await bus.#cmd.sadd(bus.#keys.replicas(), bus.replicaId);
    await bus.#beat(false);
    bus.#timers = [setInterval(() => void bus.#beat(false), HEARTBEAT_EVERY_MS), setInterval(() => void bus.#sweepDead(), opts.deadSweepMs ?? DEAD_REPLICA_SWEEP_MS)];
    bus.#connected = true;
    return bus;
  }

  ready(): boolean {
    return this.#cmd.status === "ready" && this.#sub.status === "ready";
  }

  listen(handlers: BusHandlers): void {
    this.#handlers = handlers;
  }

  async claim(agentId: string): Promise<{ epoch: number; previous: Ownership | null }> {
    const [epoch, previous] = (await this.#cmd.eval(...claimCommand(this.#keys, this.replicaId, agentId, Date.now() * 1000))) as [string, string | null];
    return { epoch: Number(epoch), previous: parseOwnership(previous) };
  }

  async release(agentId: string, epoch: number): Promise<void> {
    await this.#cmd.eval(RELEASE, 0, this.#keys.prefix, this.replicaId, agentId, String(epoch));
  }

  async restore<T extends { agentId: string; epoch: number }>(held: readonly T[]): Promise<{ held: T; owner: Ownership }[]> {
    const lost: { held: T; owner: Ownership }[] = [];
    for (let i = 0; i < held.length; i += CHUNK) {
      const chunk = held.slice(i, i + CHUNK);
      const args = [this.#keys.prefix, this.replicaId, String(chunk.length), ...chunk.map((h) => h.agentId), ...chunk.map((h) => String(h.epoch))];
      const pairs = (await this.#cmd.eval(RESTORE, 0, ...args)) as (number | string)[];
      for (let p = 0; p + 1 < pairs.length; p += 2) lost.push({ held: chunk[pairs[p] as number]!, owner: parseOwnership(String(pairs[p + 1]))! });
    }
    return lost;
  }

  async owners(agentIds: string[]): Promise<(string | null)[]> {
    const out: (string | null)[] = [];
    for (let i = 0; i < agentIds.length; i += CHUNK) {
      out.push(...((await this.#cmd.eval(OWNERS, 0, this.#keys.prefix, ...agentIds.slice(i, i + CHUNK))) as (string | null)[]));
    }
    return out;
  }

  async alive(replicaId: string): Promise<boolean> {
    return (await this.#cmd.exists(this.#keys.alive(replicaId))) === 1;
  }

  send(replicaId: string, message: BusMessage): Promise<number> {
    return this.#cmd.publish(this.#keys.channel(replicaId), JSON.stringify(message));
  }

  async lease(name: string, ttlMs: number): Promise<boolean> {
    return (await this.#cmd.eval(LEASE, 1, this.#keys.lease(name), this.replicaId, String(ttlMs))) === 1;
  }

  async releaseLease(name: string): Promise<void> {
    await this.#cmd.eval(RELEASE_LEASE, 1, this.#keys.lease(name), this.replicaId);
  }

  async publishEvents(events: HubEventRecord[]): Promise<void> {
    await this.#cmd.publish(this.#keys.events(), JSON.stringify({ origin: this.replicaId, events }));
  }

  /**
   * Stops the heartbeat and removes it, and quits both connections. The ownership of the agents still
   * held was released as their sockets closed; what is left (a release that failed) goes with the heartbeat.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const timer of this.#timers) clearInterval(timer);
      await this.#cmd.del(this.#keys.alive(this.replicaId)).catch(() => undefined);
      await Promise.all([this.#sub.quit().catch(() => this.#sub.disconnect()), this.#cmd.quit().catch(() => this.#cmd.disconnect())]);
    })();
    return this.#closing;
  }

  /**
   * Writes the heartbeat and reads the takeovers recorded for this replica. A heartbeat found gone (Redis
   * lost it, or this process stalled past its TTL and the survivors may have deleted its ownership), or
   * `restored` (back after an outage), has the replica write its ownership again.
   */
  async #beat(restored: boolean): Promise<void> {
    let results: [Error | null, unknown][] | null;
    try {
      results = await this.#cmd
        .pipeline()
        .set(this.#keys.alive(this.replicaId), String(Date.now()), "PX", HEARTBEAT_TTL_MS, "GET")
        .lpop(this.#keys.taken(this.replicaId), TAKEN_PER_BEAT)
        .exec();
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, "heartbeat failed");
      return;
    }
    const [[beatErr, previous] = [null, null], [takenErr, taken] = [null, null]] = results ?? [];
    if (beatErr !== null || takenErr !== null) return this.#log.warn({ err: (beatErr ?? takenErr)!.message }, "heartbeat failed");
    if (!this.#connected && !restored) return;
    if (restored || previous === null) {
      if (!restored) this.#log.warn("this replica's heartbeat had lapsed; writing its ownership again");
      await this.#cmd.sadd(this.#keys.replicas(), this.replicaId).catch(() => undefined);
      this.#handlers?.restored();
    }
    const takeovers: Takeover[] = [];
    for (const raw of (taken as string[] | null) ?? []) {
      const parsed = TakenEntry.safeParse(safeJson(raw));
      if (parsed.success) takeovers.push({ t: "takeover", agentId: parsed.data.agentId, by: parsed.data.by, epoch: Number(parsed.data.epoch) });
      else this.#log.warn({ raw }, "malformed takeover record; dropped");
    }
    if (takeovers.length > 0) this.#handlers?.takenOver(takeovers);
  }

  /**
   * Deletes the ownership left by replicas whose heartbeat is gone. Lookups already ignore it (they check
   * the heartbeat); this only keeps Redis from growing. A replica must be found dead by two sweeps in a
   * row while this replica's own connection stayed up, so a Redis restart never passes for a death.
   */
  async #sweepDead(): Promise<void> {
    if (!this.ready()) return this.#dead.clear();
    try {
      const dead = new Set((await this.#cmd.eval(FIND_DEAD, 0, this.#keys.prefix, this.replicaId)) as string[]);
      const confirmed = [...dead].filter((id) => this.#dead.has(id));
      this.#dead = dead;
      for (const id of confirmed) {
        let cursor = "0";
        do cursor = String(await this.#cmd.eval(PURGE, 0, this.#keys.prefix, id, cursor));
        while (cursor !== "0" && cursor !== "-1");
        if (cursor === "0") this.#log.info({ replica: id }, "deleted the agent ownership left by a replica that is gone");
      }
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, "looking for replicas that are gone failed");
    }
  }

  #deliver(channel: string, payload: string): void {
    const json = safeJson(payload);
    if (json === undefined) return this.#log.warn({ channel }, "bus message is not JSON; dropped");
    if (channel === this.#keys.events()) {
      const parsed = EventsMessage.safeParse(json);
      if (parsed.success && parsed.data.origin !== this.replicaId) this.#handlers?.events(parsed.data.events as HubEventRecord[]);
      return;
    }
    const parsed = BusMessage.safeParse(json);
    if (!parsed.success) return this.#log.warn({ channel }, "malformed bus message; dropped");
    try {
      this.#handlers?.message(parsed.data);
    } catch (err) {
      this.#log.error({ err }, "handling a bus message failed");
    }
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
