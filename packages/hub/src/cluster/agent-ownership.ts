import type { AgentConnection } from "../agents/agent-connection.js";
import type { AgentRegistry } from "../agents/agent-registry.js";
import { ConnectionLostError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { HubMetrics } from "../metrics.js";
import type { LocalCommandRouter } from "../queries/command-router.js";
import type { Store } from "../store/store.js";
import type { ClusterBus, Ownership, Takeover } from "./cluster-bus.js";

/** How often the store's revocations since the last look are checked against the sockets held here. */
export const RECONCILE_MS = 2_000;
/** Revocations per store read, and newly held agents per store lookup, while reconciling. */
const RECONCILE_CHUNK = 1_000;

/**
 * Which agent sockets this replica holds, as the bus and the store see them. Ownership is written on
 * connect and disconnect only and lives as long as this replica's heartbeat, so an idle agent costs the
 * bus nothing. Pub/Sub notices (takeover, revoke) are the fast path; they can be lost, so:
 *
 *   connect        claim: ownership ← "<replicaId>@<epoch>"; the previous owner is told (takeover{its
 *                  epoch}), and the takeover is also recorded for it on the bus
 *   disconnect     release: ownership dropped if it still names this connection
 *   takeover{e}    closes our connection with 4409 only if its epoch is e (a late notice for a connection
 *                  the agent has since replaced here is ignored: A → B → A keeps the newest socket)
 *   heartbeat      the takeovers recorded for us (notice lost or not) close those connections (4409)
 *   every 2 s      reconcile: the agents revoked in the store since our cursor (one indexed read of the
 *                  revocations, whatever the number of agents held) are closed here if held (4403), and
 *                  the agents connected since the last reconcile are looked up once (an authentication
 *                  that read the agent just before its revocation committed, seen by the poll while the
 *                  socket was not yet held): the check costs the revocations and connects, not the agents
 *   bus restored   ownership of every held connection written again (Redis may have lost it, or our
 *                  heartbeat lapsed and the survivors deleted it); one naming a newer connection elsewhere
 *                  closes ours (4409); the store consulted at once
 *
 * A replica that dies stops its heartbeat: within HEARTBEAT_TTL_MS every lookup reads its agents as held
 * by nobody (offline), and the survivors delete what it left.
 */
export class AgentOwnership {
  readonly #bus: ClusterBus;
  readonly #registry: AgentRegistry;
  readonly #store: Store;
  readonly #local: LocalCommandRouter;
  readonly #log: Logger;
  readonly #metrics: HubMetrics;
  readonly #epochs = new WeakMap<AgentConnection, number>();
  /** Takeover notices that arrived while the connection's own claim was still in flight. */
  readonly #early = new WeakMap<AgentConnection, Takeover>();
  /** Connections whose claim failed (bus unreachable): claimed again at the next reconcile or restore. */
  readonly #unclaimed = new Set<AgentConnection>();
  /** Releases that failed: tried again likewise (ownership has no TTL; it would outlive the connection). */
  readonly #unreleased: { agentId: string; epoch: number }[] = [];
  /** Connections added since the last reconcile: looked up once, as the revocation poll may have passed them. */
  readonly #fresh = new Set<AgentConnection>();
  /** Where the next read of the store's revocations starts; unknown until the first reconcile. */
  #cursor: number | undefined;
  readonly #timer: NodeJS.Timeout;
  #reconciling: Promise<void> | undefined;

  constructor(deps: { bus: ClusterBus; registry: AgentRegistry; store: Store; local: LocalCommandRouter; metrics: HubMetrics; log: Logger }) {
    this.#bus = deps.bus;
    this.#registry = deps.registry;
    this.#store = deps.store;
    this.#local = deps.local;
    this.#log = deps.log;
    this.#metrics = deps.metrics;
    deps.registry.observe({
      added: (agentId, connection) => {
        this.#fresh.add(connection);
        void this.#claim(agentId, connection);
      },
      removed: (agentId, connection) => {
        this.#fresh.delete(connection);
        this.#release(agentId, connection);
      },
    });
    this.#timer = setInterval(() => void this.reconcile(), RECONCILE_MS);
  }

  /** The bus may have lost our ownership: written again, and the store consulted at once. */
  restored(): void {
    void this.restore();
    void this.reconcile();
  }

  /** A takeover notice from the replica that accepted a newer connection. */
  onTakeover(message: Takeover): void {
    this.#takeover(message, false);
  }

  /** Takeovers recorded for this replica by other replicas' claims (their notice may have been lost). */
  onTakenOver(takeovers: Takeover[]): void {
    for (const takeover of takeovers) this.#takeover(takeover, true);
  }

  /** Writes the ownership of every connection held here again; closes those another replica took over. */
  async restore(): Promise<void> {
    await this.#claimAgain();
    const held: { agentId: string; epoch: number; connection: AgentConnection }[] = [];
    for (const connection of this.#registry.connections()) {
      const epoch = this.#epochs.get(connection);
      if (connection.state === "open" && epoch !== undefined) held.push({ agentId: connection.agentId, epoch, connection });
    }
    try {
      for (const { held: h, owner } of await this.#bus.restore(held)) this.#lostTo(h.connection, owner);
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, "writing agent ownership again failed");
    }
  }

  /** Closes (4403) every socket held here whose agent the store says is revoked (see the class). Never rejects. */
  reconcile(): Promise<void> {
    this.#reconciling ??= this.#reconcile()
      .catch((err: unknown) => this.#log.warn({ err: (err as Error).message }, "reconciling held agents with the store failed"))
      .finally(() => (this.#reconciling = undefined));
    return this.#reconciling;
  }

  /** Stops the timer; resolves once a reconciliation in progress has ended. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#reconciling;
  }

  async #reconcile(): Promise<void> {
    await this.#claimAgain();
    // Every connection is added after the constructor: those before the first cursor are all fresh.
    this.#cursor ??= await this.#store.revocationCursor();
    const fresh = [...this.#fresh];
    this.#fresh.clear();
    try {
      for (let page = RECONCILE_CHUNK; page === RECONCILE_CHUNK; ) {
        const { agentIds, cursor } = await this.#store.revokedSince(this.#cursor, RECONCILE_CHUNK);
        for (const agentId of agentIds) await this.#closeRevoked(agentId);
        this.#cursor = cursor;
        page = agentIds.length;
      }
      const held = fresh.filter((c) => c.state === "open" && this.#registry.get(c.agentId) === c).map((c) => c.agentId);
      for (let i = 0; i < held.length; i += RECONCILE_CHUNK) {
        for (const agentId of await this.#store.revokedAmong(held.slice(i, i + RECONCILE_CHUNK))) await this.#closeRevoked(agentId);
      }
    } catch (err) {
      for (const connection of fresh) if (connection.state === "open") this.#fresh.add(connection);
      throw err;
    }
  }

  /** The store says the agent is revoked: its socket, if held here, is closed (the notice was lost or is late). */
  async #closeRevoked(agentId: string): Promise<void> {
    if (!this.#local.holds(agentId)) return;
    this.#metrics.reconciled.inc({ action: "revoked" });
    this.#log.warn({ agentId }, "agent is revoked in the store but its socket is open here (the notice was lost); closing it");
    await this.#local.revoke(agentId);
  }

  /** Claims and releases whose bus call failed, tried again (nothing to do, and no bus call, in the usual case). */
  async #claimAgain(): Promise<void> {
    if (!this.#bus.ready()) return;
    for (const connection of [...this.#unclaimed]) await this.#claim(connection.agentId, connection);
    for (const { agentId, epoch } of this.#unreleased.splice(0)) await this.#releaseEpoch(agentId, epoch);
  }

  /**
   * A takeover of one of our connections. The recorded copy (`recorded`) duplicates a notice that usually
   * arrived first: for a connection no longer here it is silently done with.
   */
  #takeover(message: Takeover, recorded: boolean): void {
    const connection = this.#registry.get(message.agentId);
    if (connection === undefined) return;
    const epoch = this.#epochs.get(connection);
    if (epoch === undefined) {
      this.#early.set(connection, message);
      return;
    }
    if (epoch !== message.epoch) {
      if (recorded) return;
      this.#metrics.reconciled.inc({ action: "stale_notice" });
      this.#log.info({ agentId: message.agentId, by: message.by, epoch: message.epoch, current: epoch }, "takeover notice for an older connection of the agent; ignored");
      return;
    }
    if (recorded) this.#lostTo(connection, { replicaId: message.by, epoch: message.epoch });
    else this.#handOver(connection, message.by, "agent connected to another replica; closing ours");
  }

  /** The bus says another replica holds a newer connection of the agent, and no notice closed ours. */
  #lostTo(connection: AgentConnection, owner: Ownership): void {
    this.#metrics.reconciled.inc({ action: "taken_over" });
    this.#handOver(connection, owner.replicaId, "the agent's ownership names a newer connection on another replica (its notice was lost); closing ours");
  }

  async #claim(agentId: string, connection: AgentConnection): Promise<void> {
    this.#unclaimed.delete(connection);
    let claimed: Awaited<ReturnType<ClusterBus["claim"]>>;
    try {
      claimed = await this.#bus.claim(agentId);
    } catch (err) {
      if (connection.state === "open" && this.#registry.get(agentId) === connection) this.#unclaimed.add(connection);
      this.#log.warn({ agentId, err: (err as Error).message }, "claiming agent ownership failed; tried again shortly");
      return;
    }
    const { epoch, previous } = claimed;
    this.#epochs.set(connection, epoch);
    if (previous !== null && previous.replicaId !== this.#bus.replicaId) {
      await this.#bus.send(previous.replicaId, { t: "takeover", agentId, by: this.#bus.replicaId, epoch: previous.epoch }).catch((err: unknown) => {
        this.#log.warn({ agentId, err: (err as Error).message }, "telling the previous owner of the takeover failed; it reads the recorded takeover with its heartbeat");
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
    void this.#releaseEpoch(agentId, epoch);
  }

  async #releaseEpoch(agentId: string, epoch: number): Promise<void> {
    try {
      await this.#bus.release(agentId, epoch);
    } catch (err) {
      this.#unreleased.push({ agentId, epoch });
      this.#log.warn({ agentId, err: (err as Error).message }, "releasing agent ownership failed; tried again shortly");
    }
  }

  #handOver(connection: AgentConnection, by: string, why: string): void {
    this.#log.info({ agentId: connection.agentId, by, epoch: this.#epochs.get(connection) }, why);
    this.#registry.handOver(connection.agentId, by, new ConnectionLostError("agent_replaced", `agent ${connection.agentId} reconnected to replica ${by}`), connection);
  }
}
