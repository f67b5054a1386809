import type { AgentConnection } from "../agents/agent-connection.js";
import type { AgentRegistry } from "../agents/agent-registry.js";
import { ConnectionLostError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { HubMetrics } from "../metrics.js";
import type { LocalCommandRouter } from "../queries/command-router.js";
import type { Store } from "../store/store.js";
import { OWNERSHIP_TTL_MS, type BusMessage, type RedisBus } from "./redis-bus.js";

/** How often the sockets held here are checked against the store (revoked agents are closed). */
export const RECONCILE_MS = 2_000;
/** Agents per store lookup while reconciling. */
const RECONCILE_CHUNK = 1_000;

type Takeover = Extract<BusMessage, { t: "takeover" }>;

/**
 * Which agent sockets this replica holds, as Redis and the store see them. Pub/Sub notices (takeover,
 * revoke) are the fast path; they can be lost, so the state is also reconciled on timers:
 *
 *   connect        claim: key ← "<replicaId>@<epoch>"; previous owner told: takeover{epoch: its epoch}
 *   takeover{e}    closes our connection with 4409 only if its epoch is e (a late notice for a connection
 *                  the agent has since replaced here is ignored: A → B → A keeps the newest socket)
 *   every 5 s      refresh: keys extended; a key naming a newer epoch closes ours (4409), notice or not
 *   every 2 s      reconcile: held agents revoked in the store are closed (4403), notice or not
 *   bus restored   both at once (Redis may have lost every key, and notices were surely lost)
 */
export class AgentOwnership {
  readonly #bus: RedisBus;
  readonly #registry: AgentRegistry;
  readonly #store: Store;
  readonly #local: LocalCommandRouter;
  readonly #log: Logger;
  readonly #metrics: HubMetrics;
  readonly #epochs = new WeakMap<AgentConnection, number>();
  /** Takeover notices that arrived while the connection's own claim was still in flight. */
  readonly #early = new WeakMap<AgentConnection, Takeover>();
  /** Connections whose claim failed (Redis unreachable): claimed again by the next refresh. */
  readonly #unclaimed = new Set<AgentConnection>();
  readonly #timers: NodeJS.Timeout[];
  #reconciling: Promise<void> | undefined;

  constructor(deps: { bus: RedisBus; registry: AgentRegistry; store: Store; local: LocalCommandRouter; metrics: HubMetrics; log: Logger }) {
    this.#bus = deps.bus;
    this.#registry = deps.registry;
    this.#store = deps.store;
    this.#local = deps.local;
    this.#log = deps.log;
    this.#metrics = deps.metrics;
    deps.registry.observe({
      added: (agentId, connection) => void this.#claim(agentId, connection),
      removed: (agentId, connection) => void this.#release(agentId, connection),
    });
    this.#timers = [setInterval(() => void this.refresh(), OWNERSHIP_TTL_MS / 3), setInterval(() => void this.reconcile(), RECONCILE_MS)];
  }

  /** After a Redis outage: ownership written again and the store consulted at once, not at their next period. */
  restored(): void {
    void this.refresh();
    void this.reconcile();
  }

  /** A takeover notice from the replica that accepted a newer connection. */
  onTakeover(message: Takeover): void {
    const connection = this.#registry.get(message.agentId);
    if (connection === undefined) return;
    const epoch = this.#epochs.get(connection);
    if (epoch === undefined) {
      this.#early.set(connection, message);
      return;
    }
    if (epoch !== message.epoch) {
      this.#metrics.reconciled.inc({ action: "stale_notice" });
      this.#log.info({ agentId: message.agentId, by: message.by, epoch: message.epoch, current: epoch }, "takeover notice for an older connection of the agent; ignored");
      return;
    }
    this.#handOver(connection, message.by, "agent connected to another replica; closing ours");
  }

  /** Extends the ownership of every connection held here; closes those another replica took over. */
  async refresh(): Promise<void> {
    for (const connection of [...this.#unclaimed]) await this.#claim(connection.agentId, connection);
    const held: { agentId: string; epoch: number; connection: AgentConnection }[] = [];
    for (const connection of this.#registry.connections()) {
      const epoch = this.#epochs.get(connection);
      if (connection.state === "open" && epoch !== undefined) held.push({ agentId: connection.agentId, epoch, connection });
    }
    try {
      for (const { held: h, owner } of await this.#bus.refresh(held)) {
        this.#metrics.reconciled.inc({ action: "taken_over" });
        this.#handOver(h.connection, owner.replicaId, "the agent's ownership names a newer connection on another replica (its notice was lost); closing ours");
      }
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, "refreshing agent ownership failed");
    }
  }

  /** Closes (4403) every socket held here whose agent the store says is revoked. Never rejects. */
  reconcile(): Promise<void> {
    this.#reconciling ??= this.#reconcile()
      .catch((err: unknown) => this.#log.warn({ err: (err as Error).message }, "reconciling held agents with the store failed"))
      .finally(() => (this.#reconciling = undefined));
    return this.#reconciling;
  }

  /** Stops the timers; resolves once a reconciliation in progress has ended. */
  async close(): Promise<void> {
    for (const timer of this.#timers) clearInterval(timer);
    await this.#reconciling;
  }

  async #reconcile(): Promise<void> {
    const held = [...this.#registry.connections()].filter((c) => c.state === "open").map((c) => c.agentId);
    for (let i = 0; i < held.length; i += RECONCILE_CHUNK) {
      for (const agentId of await this.#store.revokedAmong(held.slice(i, i + RECONCILE_CHUNK))) {
        this.#metrics.reconciled.inc({ action: "revoked" });
        this.#log.warn({ agentId }, "agent is revoked in the store but its socket is open here (the notice was lost); closing it");
        await this.#local.revoke(agentId);
      }
    }
  }

  async #claim(agentId: string, connection: AgentConnection): Promise<void> {
    this.#unclaimed.delete(connection);
    let claimed: Awaited<ReturnType<RedisBus["claim"]>>;
    try {
      claimed = await this.#bus.claim(agentId);
    } catch (err) {
      if (connection.state === "open" && this.#registry.get(agentId) === connection) this.#unclaimed.add(connection);
      this.#log.warn({ agentId, err: (err as Error).message }, "claiming agent ownership failed; the refresh retries");
      return;
    }
    const { epoch, previous } = claimed;
    this.#epochs.set(connection, epoch);
    if (previous !== null && previous.replicaId !== this.#bus.replicaId) {
      await this.#bus.send(previous.replicaId, { t: "takeover", agentId, by: this.#bus.replicaId, epoch: previous.epoch }).catch((err: unknown) => {
        this.#log.warn({ agentId, err: (err as Error).message }, "telling the previous owner of the takeover failed; its refresh will notice");
      });
    }
    // Closed (or replaced) while the claim was in flight: its removal could not release what it had not claimed.
    if (this.#registry.get(agentId) !== connection) return this.#release(agentId, connection);
    const early = this.#early.get(connection);
    if (early !== undefined && early.epoch === epoch) this.onTakeover(early);
  }

  #release(agentId: string, connection: AgentConnection): void {
    this.#unclaimed.delete(connection);
    const epoch = this.#epochs.get(connection);
    if (epoch === undefined) return; // the claim in flight releases once it resolves
    this.#bus.release(agentId, epoch).catch((err: unknown) => this.#log.warn({ agentId, err: (err as Error).message }, "releasing agent ownership failed"));
  }

  #handOver(connection: AgentConnection, by: string, why: string): void {
    this.#log.info({ agentId: connection.agentId, by, epoch: this.#epochs.get(connection) }, why);
    this.#registry.handOver(connection.agentId, by, new ConnectionLostError("agent_replaced", `agent ${connection.agentId} reconnected to replica ${by}`), connection);
  }
}
