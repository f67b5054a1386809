import { CommandKind, CorrelationId, SessionId, type CommandFields } from "@uplink/protocol";
import { z } from "zod";
import { CommandReply } from "../agents/pending-commands.js";
import type { HubEventRecord } from "../store/store.js";

/** A replica's heartbeat lives this long; a replica missing it counts as gone (and so do the agents it held). */
export const HEARTBEAT_TTL_MS = 3_000;
/** How often a replica writes its heartbeat (and reads the takeovers recorded for it). */
export const HEARTBEAT_EVERY_MS = 1_000;

/** What a command carries across the bus: the fields of the frame the owner writes (`buildCommand`). */
const Command = z.object({
  correlationId: CorrelationId,
  sessionId: SessionId,
  kind: CommandKind,
  collector: z.string(),
  query: z.string(),
  timeoutMs: z.number(),
}) satisfies z.ZodType<CommandFields>;

/** What replicas say to each other on their own channels. */
export const BusMessage = z.discriminatedUnion("t", [
  /** Run this command on the agent you hold; answer on `from`'s channel. */
  z.object({ t: z.literal("cmd"), from: z.string(), agentId: z.string(), request: Command }),
  /** The agent's reply to a command you published: the pending map's reply, its correlationId outside. */
  z.object({ t: z.literal("reply"), correlationId: z.string(), reply: CommandReply.omit({ correlationId: true }) }),
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
  // any replica → the one collecting the fan-out: cancel its pending targets (POST /api/v1/queries/:id/cancel).
  z.object({ t: z.literal("cancel-fanout"), fanoutId: z.string(), by: z.string() }),
]);
export type BusMessage = z.infer<typeof BusMessage>;
export type Takeover = Extract<BusMessage, { t: "takeover" }>;

/** One agent's ownership: the replica holding its connection, and that connection's epoch. */
export interface Ownership {
  replicaId: string;
  /** 0 for a value written without one. */
  epoch: number;
}

/** What a replica is told by the bus. */
export interface BusHandlers {
  /** A message on this replica's own channel. */
  message(message: BusMessage): void;
  /** Events another replica stored, for this replica's SSE clients. */
  events(events: HubEventRecord[]): void;
  /**
   * Takeovers of this replica's connections recorded by the claims of other replicas: the reliable copy of
   * the `takeover` notices, which the channel may lose. Delivered with the heartbeat, so within seconds.
   */
  takenOver(takeovers: Takeover[]): void;
  /** The connection to the bus dropped: replies in flight will never arrive. */
  lost(): void;
  /**
   * The bus may have forgotten this replica (back after an outage, or its heartbeat had lapsed): the
   * ownership of every agent held here is written again ({@link ClusterBus.restore}).
   */
  restored(): void;
}

/**
 * What replicas share: who holds which agent, which replicas are alive, one channel per replica for
 * commands, replies and notices, and one for hub events. `RedisBus` in production; the unit tests run
 * several replicas over an in-memory one. Delivery on channels is at-most-once: callers keep deadlines.
 *
 * Ownership costs O(replicas), not O(agents): it is written when a connection opens and when it closes,
 * and it lives as long as the holder's heartbeat. An agent whose holder is gone reads as held by nobody.
 */
export interface ClusterBus {
  readonly replicaId: string;
  /** True while the bus is reachable. */
  ready(): boolean;
  listen(handlers: BusHandlers): void;
  /**
   * Records a new connection of the agent on this replica: returns its epoch (higher than any earlier
   * connection's, on any replica) and the ownership it replaced, or null. A replaced connection of another
   * replica is recorded as taken over for that replica ({@link BusHandlers.takenOver}).
   */
  claim(agentId: string): Promise<{ epoch: number; previous: Ownership | null }>;
  /** Drops the ownership of the connection of `epoch`, unless a newer connection has claimed it since. */
  release(agentId: string, epoch: number): Promise<void>;
  /**
   * Writes again the ownership of every connection held here (the bus may have lost it); returns those
   * whose agent names a newer connection meanwhile, with that ownership: theirs here must close.
   */
  restore<T extends { agentId: string; epoch: number }>(held: readonly T[]): Promise<{ held: T; owner: Ownership }[]>;
  /** The live replica holding each agent, or null (nobody, or a replica whose heartbeat is gone). */
  owners(agentIds: string[]): Promise<(string | null)[]>;
  /** Whether the replica's heartbeat is current. */
  alive(replicaId: string): Promise<boolean>;
  /** Publishes to a replica's channel; resolves with how many listeners received it (0: nobody listens). */
  send(replicaId: string, message: BusMessage): Promise<number>;
  /**
   * Takes the lease `name` for `ttlMs`, or renews it when this replica holds it; true when this replica holds
   * it now. A holder that stops renewing loses it when the TTL runs out, and the next caller takes it.
   */
  lease(name: string, ttlMs: number): Promise<boolean>;
  /** Gives the lease up if this replica holds it. */
  releaseLease(name: string): Promise<void>;
  /** Publishes events this replica stored, for every other replica's SSE clients. */
  publishEvents(events: HubEventRecord[]): Promise<void>;
  /** Stops the heartbeat and leaves the bus. Idempotent. */
  close(): Promise<void>;
}
