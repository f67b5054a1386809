import { Redis } from "ioredis";
import { z } from "zod";
import type { Logger } from "../logger.js";
import type { HubEventRecord } from "../store/store.js";

/** How long an agent's ownership key lives without a refresh. */
export const OWNERSHIP_TTL_MS = 15_000;
/** How long a replica's heartbeat key lives; a replica missing it for this long counts as gone. */
export const HEARTBEAT_TTL_MS = 3_000;
const HEARTBEAT_EVERY_MS = 1_000;

const Request = z.object({
  correlationId: z.string(),
  sessionId: z.string(),
  kind: z.enum(["query", "health"]),
  collector: z.string(),
  query: z.string(),
  timeoutMs: z.number(),
});

/** What replicas say to each other on their own channels. */
export const BusMessage = z.discriminatedUnion("t", [
  /** Run this command on the agent you hold; answer on `from`'s channel. */
  z.object({ t: z.literal("cmd"), from: z.string(), agentId: z.string(), request: Request }),
  /** The agent's reply to a command you published. */
  z.object({ t: z.literal("reply"), correlationId: z.string(), reply: z.object({ ok: z.boolean(), result: z.unknown().optional(), error: z.string().optional(), code: z.string().optional(), durationMs: z.number().optional() }) }),
  /** The command failed on the owner before or instead of a reply (offline there, connection lost, …). */
  z.object({ t: z.literal("fail"), correlationId: z.string(), error: z.object({ code: z.string(), status: z.number(), message: z.string() }) }),
  /**
   * A newer connection of this agent was accepted by `by`: close yours with 4409 if it is the connection
   * of ownership `epoch` (a late notice must not close a newer connection the agent made since).
   */
  z.object({ t: z.literal("takeover"), agentId: z.string(), by: z.string(), epoch: z.number().int() }),
  /** The agent was revoked through another replica: close its socket with 4403. */
  z.object({ t: z.literal("revoke"), agentId: z.string() }),
  // requester → owner: the caller of a command gave up; the owner cancels it on the agent.
  z.object({ t: z.literal("cancel"), correlationId: z.string() }),
]);
export type BusMessage = z.infer<typeof BusMessage>;

const EventsMessage = z.object({ origin: z.string(), events: z.array(z.object({ seq: z.number(), type: z.string(), data: z.record(z.string(), z.unknown()), createdAt: z.number() })) });

/**
 * An ownership key's value is `<replicaId>@<epoch>`. The epoch comes from one counter of the whole cluster,
 * incremented by every claim, so each connection of an agent, on any replica, has an epoch of its own and a
 * later connection always a higher one. The counter never runs below the claiming replica's clock in µs
 * (ARGV[3]): should Redis lose it (a restart without persistence), epochs still grow past those in use.
 */
const CLAIM = `
local epoch = redis.call("INCR", KEYS[2])
if epoch < tonumber(ARGV[3]) then
  epoch = tonumber(ARGV[3])
  redis.call("SET", KEYS[2], ARGV[3])
end
local previous = redis.call("GET", KEYS[1])
redis.call("SET", KEYS[1], ARGV[1] .. "@" .. epoch, "PX", ARGV[2])
return {epoch, previous}`;

/** Deletes the key only while it still names this connection (an agent that moved is not released). */
const RELEASE_IF_MINE = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end`;

/**
 * Extends each key that names this replica's connection (or is gone: Redis lost it); a key naming a newer
 * epoch is left alone and its index returned (that connection was taken over and the notice never came).
 * A key naming an older epoch (rewritten by a stale connection after Redis lost it) is taken back.
 * KEYS: ownership keys; ARGV: replicaId, ttl, then one epoch per key. Returns (index, value) pairs.
 */
const REFRESH = `
local lost = {}
for i, key in ipairs(KEYS) do
  local mine = ARGV[1] .. "@" .. ARGV[i + 2]
  local current = redis.call("GET", key)
  local epoch = current and tonumber(string.match(current, "@(%d+)$")) or 0
  if current == false or current == mine or epoch < tonumber(ARGV[i + 2]) then
    redis.call("SET", key, mine, "PX", ARGV[2])
  else
    lost[#lost + 1] = i - 1
    lost[#lost + 1] = current
  end
end
return lost`;
/** Keys per REFRESH call, so that no single script holds Redis for long. */
const REFRESH_CHUNK = 500;

/** One agent's ownership as recorded in Redis. */
export interface Ownership {
  replicaId: string;
  /** 0 for a value written without one. */
  epoch: number;
}

/** Parses `<replicaId>@<epoch>` (or a bare replicaId). */
export function parseOwnership(value: string | null): Ownership | null {
  if (value === null) return null;
  const at = value.lastIndexOf("@");
  if (at < 0) return { replicaId: value, epoch: 0 };
  return { replicaId: value.slice(0, at), epoch: Number(value.slice(at + 1)) || 0 };
}

export interface RedisBusOptions {
  url: string;
  /** Key and channel prefix, so several clusters (or test runs) can share one Redis. */
  prefix: string;
  replicaId: string;
  log: Logger;
}

/**
 * Redis as the cluster's switchboard: who holds which agent (a key per agent with a TTL), which
 * replicas are alive (a heartbeat key each), one Pub/Sub channel per replica for commands and replies,
 * and one shared channel for hub events. Pub/Sub is at-most-once; callers keep their own deadlines.
 *
 * Commands fail fast while Redis is unreachable (no offline queue); the subscriber reconnects and
 * resubscribes by itself.
 */
export class RedisBus {
  readonly replicaId: string;
  readonly #prefix: string;
  readonly #log: Logger;
  readonly #cmd: Redis;
  readonly #sub: Redis;
  readonly #ownChannel: string;
  readonly #eventsChannel: string;
  #onMessage: (message: BusMessage) => void = () => {};
  #onEvents: (events: HubEventRecord[]) => void = () => {};
  #onLost: () => void = () => {};
  #onRestored: () => void = () => {};
  #connected = false;
  #heartbeat: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;

  private constructor(opts: RedisBusOptions) {
    this.replicaId = opts.replicaId;
    this.#prefix = opts.prefix;
    this.#log = opts.log.child({ component: "bus" });
    const common = { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: (n: number) => Math.min(n * 200, 2000) };
    this.#cmd = new Redis(opts.url, { ...common, connectionName: `${opts.replicaId}-cmd` });
    this.#sub = new Redis(opts.url, { ...common, connectionName: `${opts.replicaId}-sub` });
    this.#ownChannel = `${opts.prefix}replica:${opts.replicaId}`;
    this.#eventsChannel = `${opts.prefix}events`;
    for (const [name, client] of [["commands", this.#cmd], ["subscriber", this.#sub]] as const) {
      client.on("error", (err: Error) => this.#log.warn({ err: err.message, client: name }, "redis error"));
      client.on("ready", () => this.#log.info({ client: name }, "redis ready"));
    }
    this.#sub.on("messageBuffer", (channel: Buffer, payload: Buffer) => this.#deliver(channel.toString(), payload.toString()));
    // Pub/Sub keeps nothing for a disconnected subscriber: a reply published meanwhile is gone for good.
    this.#sub.on("close", () => {
      if (this.#connected && this.#closing === undefined) this.#onLost();
    });
    // Ready again after an outage (ioredis has resubscribed): Redis may have lost every key, so the
    // heartbeat and the ownership of held agents are written again at once, not at their next period.
    this.#cmd.on("ready", () => {
      if (!this.#connected || this.#closing !== undefined) return;
      void this.#beat();
      this.#onRestored();
    });
  }

  /** Connects both clients, subscribes to this replica's channel and the events channel, starts the heartbeat. */
  static async connect(opts: RedisBusOptions): Promise<RedisBus> {
    const bus = new RedisBus(opts);
    await Promise.all([bus.#cmd.connect(), bus.#sub.connect()]);
    await bus.#sub.subscribe(bus.#ownChannel, bus.#eventsChannel);
    await bus.#beat();
    bus.#heartbeat = setInterval(() => void bus.#beat(), HEARTBEAT_EVERY_MS);
    bus.#connected = true;
    return bus;
  }

  /** True while both connections are up. */
  ready(): boolean {
    return this.#cmd.status === "ready" && this.#sub.status === "ready";
  }

  /** Handlers for messages on this replica's channel and for events published by other replicas. */
  listen(onMessage: (message: BusMessage) => void, onEvents: (events: HubEventRecord[]) => void): void {
    this.#onMessage = onMessage;
    this.#onEvents = onEvents;
  }

  /**
   * Handlers for the connection to Redis: `lost` when the subscriber's connection drops (replies in
   * flight will never arrive), `restored` when the command connection is ready again after an outage.
   */
  watchConnection(lost: () => void, restored: () => void): void {
    this.#onLost = lost;
    this.#onRestored = restored;
  }

  /**
   * Records a new connection of the agent on this replica: returns its epoch, and the ownership it
   * replaced (any replica's, this one's included), or null.
   */
  async claim(agentId: string): Promise<{ epoch: number; previous: Ownership | null }> {
    const [epoch, previous] = (await this.#cmd.eval(CLAIM, 2, this.#agentKey(agentId), this.#epochKey(), this.replicaId, OWNERSHIP_TTL_MS, Date.now() * 1000)) as [number, string | null];
    return { epoch, previous: parseOwnership(previous) };
  }

  /** Drops the ownership key of the connection of `epoch`, unless a newer connection has claimed it since. */
  async release(agentId: string, epoch: number): Promise<void> {
    await this.#cmd.eval(RELEASE_IF_MINE, 1, this.#agentKey(agentId), `${this.replicaId}@${epoch}`);
  }

  /**
   * Extends the ownership of every connection this replica holds; returns those whose key names a newer
   * connection, with that ownership (taken over elsewhere and the notice lost: theirs here must close).
   */
  async refresh<T extends { agentId: string; epoch: number }>(held: readonly T[]): Promise<{ held: T; owner: Ownership }[]> {
    const lost: { held: T; owner: Ownership }[] = [];
    for (let i = 0; i < held.length; i += REFRESH_CHUNK) {
      const chunk = held.slice(i, i + REFRESH_CHUNK);
      const keys = chunk.map((h) => this.#agentKey(h.agentId));
      const pairs = (await this.#cmd.eval(REFRESH, keys.length, ...keys, this.replicaId, OWNERSHIP_TTL_MS, ...chunk.map((h) => h.epoch))) as (number | string)[];
      for (let p = 0; p + 1 < pairs.length; p += 2) lost.push({ held: chunk[pairs[p] as number]!, owner: parseOwnership(String(pairs[p + 1]))! });
    }
    return lost;
  }

  /** The replica holding each agent, or null. */
  async owners(agentIds: string[]): Promise<(string | null)[]> {
    if (agentIds.length === 0) return [];
    return (await this.#cmd.mget(agentIds.map((id) => this.#agentKey(id)))).map((v) => parseOwnership(v)?.replicaId ?? null);
  }

  /** Whether the replica's heartbeat is current. */
  async alive(replicaId: string): Promise<boolean> {
    return (await this.#cmd.exists(this.#heartbeatKey(replicaId))) === 1;
  }

  /** Publishes to a replica's channel; resolves with how many subscribers received it (0: nobody listens). */
  send(replicaId: string, message: BusMessage): Promise<number> {
    return this.#cmd.publish(`${this.#prefix}replica:${replicaId}`, JSON.stringify(message));
  }

  /** Publishes events this replica stored, for every other replica's SSE clients. */
  async publishEvents(events: HubEventRecord[]): Promise<void> {
    await this.#cmd.publish(this.#eventsChannel, JSON.stringify({ origin: this.replicaId, events }));
  }

  /** Stops the heartbeat, removes it, and quits both connections. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#heartbeat);
      await this.#cmd.del(this.#heartbeatKey(this.replicaId)).catch(() => undefined);
      await Promise.all([this.#sub.quit().catch(() => this.#sub.disconnect()), this.#cmd.quit().catch(() => this.#cmd.disconnect())]);
    })();
    return this.#closing;
  }

  async #beat(): Promise<void> {
    try {
      await this.#cmd.set(this.#heartbeatKey(this.replicaId), String(Date.now()), "PX", HEARTBEAT_TTL_MS);
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, "heartbeat failed");
    }
  }

  #deliver(channel: string, payload: string): void {
    let json: unknown;
    try {
      json = JSON.parse(payload);
    } catch {
      this.#log.warn({ channel }, "bus message is not JSON; dropped");
      return;
    }
    if (channel === this.#eventsChannel) {
      const parsed = EventsMessage.safeParse(json);
      if (parsed.success && parsed.data.origin !== this.replicaId) this.#onEvents(parsed.data.events as HubEventRecord[]);
      return;
    }
    const parsed = BusMessage.safeParse(json);
    if (!parsed.success) {
      this.#log.warn({ channel }, "malformed bus message; dropped");
      return;
    }
    try {
      this.#onMessage(parsed.data);
    } catch (err) {
      this.#log.error({ err }, "handling a bus message failed");
    }
  }

  #agentKey(agentId: string): string {
    return `${this.#prefix}agent:${agentId}`;
  }

  #epochKey(): string {
    return `${this.#prefix}epoch`;
  }

  #heartbeatKey(replicaId: string): string {
    return `${this.#prefix}replica:${replicaId}:alive`;
  }
}
