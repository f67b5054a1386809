import { CloseCode, type Hello, type HealthResult } from "@uplink/protocol";
import { ConnectionLostError, type HubError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { EventLog } from "../events/event-log.js";
import type { AgentStatus, Store } from "../store/store.js";
import type { AgentConnection } from "./agent-connection.js";
import type { PresenceWriter } from "./presence-writer.js";

/** Told when this process starts or stops holding an agent's socket (cluster ownership follows it). */
export interface RegistryObserver {
  added(agentId: string, connection: AgentConnection): void;
  removed(agentId: string, connection: AgentConnection): void;
}

/**
 * The agents connected to this hub process, one connection per agentId (rule 9: the newest wins).
 * It records presence in the store: online on connect, offline on disconnect, hello metadata and health
 * status transitions at once; a poll that changes nothing but lastSeenAt and the health result goes to the
 * PresenceWriter, which writes such news in batches.
 */
export class AgentRegistry {
  readonly #byId = new Map<string, AgentConnection>();
  readonly #status = new Map<string, AgentStatus>();
  readonly #store: Store;
  readonly #log: Logger;
  readonly #replicaId: string;
  readonly #events: EventLog;
  readonly #presence: PresenceWriter;
  readonly #observers: RegistryObserver[] = [];
  /** Connections closeAll() recorded as gone already: their removal writes nothing more. */
  readonly #departed = new WeakSet<AgentConnection>();

  constructor(deps: { store: Store; events: EventLog; presence: PresenceWriter; log: Logger; replicaId: string }) {
    this.#store = deps.store;
    this.#presence = deps.presence;
    this.#events = deps.events;
    this.#log = deps.log;
    this.#replicaId = deps.replicaId;
  }

  observe(observer: RegistryObserver): void {
    this.#observers.push(observer);
  }

  get size(): number {
    return this.#byId.size;
  }

  get(agentId: string): AgentConnection | undefined {
    return this.#byId.get(agentId);
  }

  connections(): IterableIterator<AgentConnection> {
    return this.#byId.values();
  }

  /** Commands awaiting a reply across every connection. */
  pendingCount(): number {
    let n = 0;
    for (const c of this.#byId.values()) n += c.pendingCount;
    return n;
  }

  /** Adds a new connection; an older one of the same agent is closed with 4409 and its commands fail. */
  add(connection: AgentConnection): void {
    const previous = this.#byId.get(connection.agentId);
    this.#byId.set(connection.agentId, connection);
    this.#status.set(connection.agentId, "online");
    if (previous !== undefined) {
      this.#log.info({ agentId: connection.agentId }, "newer connection replaces the older one");
      previous.close(CloseCode.REPLACED, "replaced by a newer connection", new ConnectionLostError("agent_replaced", `agent ${connection.agentId} reconnected; the older connection was replaced`));
    }
    this.#persist(connection.agentId, {
      status: "online",
      protocol: connection.protocol,
      connectedAt: connection.connectedAt,
      lastSeenAt: connection.connectedAt,
      replicaId: this.#replicaId,
      // Unknown again until this connection's first reply is read.
      legacyShapes: null,
    });
    this.#events.publish("agent.connected", { agentId: connection.agentId, protocol: connection.protocol, replicaId: this.#replicaId });
    for (const o of this.#observers) o.added(connection.agentId, connection);
  }

  /** Removes a closed connection; only the current one of its agent marks the agent offline. */
  remove(connection: AgentConnection): void {
    if (this.#byId.get(connection.agentId) !== connection) return;
    this.#byId.delete(connection.agentId);
    this.#status.delete(connection.agentId);
    if (this.#departed.has(connection)) return;
    this.#persist(connection.agentId, { ...this.#presence.settle(connection.agentId), status: "offline", lastSeenAt: connection.lastSeenAt });
    this.#presence.forget(connection.agentId);
    this.#events.publish("agent.disconnected", { agentId: connection.agentId, replicaId: this.#replicaId });
    for (const o of this.#observers) o.removed(connection.agentId, connection);
  }

  /**
   * Cluster takeover: the agent connected to another replica (`by`). Its connection here is closed with
   * 4409 and dropped without recording the agent offline: it is online there, and a late offline write
   * from here would overwrite that. Only `connection`, when named, is handed over: a newer one the agent
   * made here since stays.
   */
  handOver(agentId: string, by: string, error: HubError, only?: AgentConnection): void {
    const connection = this.#byId.get(agentId);
    if (connection === undefined || (only !== undefined && connection !== only)) return;
    this.#byId.delete(agentId);
    this.#status.delete(agentId);
    this.#presence.forget(agentId);
    this.#events.publish("agent.disconnected", { agentId, replicaId: this.#replicaId, replacedBy: by });
    for (const o of this.#observers) o.removed(agentId, connection);
    connection.close(CloseCode.REPLACED, "replaced by a newer connection", error);
  }

  /**
   * Records what the agent says of itself. Its labels are kept as `reportedLabels` only: labels belong to
   * the operator (enrollment, `PATCH /api/v1/agents/:id`), so no hello, first or later, can move an agent
   * into another fan-out's targets.
   */
  recordHello(connection: AgentConnection, hello: Hello): void {
    if (this.#byId.get(connection.agentId) !== connection) return;
    this.#persist(connection.agentId, {
      hostname: hello.hostname,
      agentVersion: hello.agentVersion,
      platform: hello.platform,
      arch: hello.arch,
      protocol: hello.protocol,
      reportedLabels: hello.labels,
    });
  }

  /** The legacy traits the connection showed changed (AgentConnection.legacyShapes). */
  recordLegacyShapes(connection: AgentConnection, shapes: readonly string[]): void {
    if (this.#byId.get(connection.agentId) !== connection) return;
    this.#persist(connection.agentId, { legacyShapes: [...shapes] });
  }

  /**
   * A health poll answered (`health`, or `answered` without a health result: a legacy agent's bare
   * success) or failed (`null`): the agent is online or unresponsive. A change of status is written at
   * once (it is an event); an answer that changes nothing else waits for the next presence flush.
   */
  recordHealth(connection: AgentConnection, health: HealthResult | null, answered = health !== null): void {
    if (this.#byId.get(connection.agentId) !== connection) return;
    const status: AgentStatus = answered ? "online" : "unresponsive";
    const previous = this.#status.get(connection.agentId);
    this.#status.set(connection.agentId, status);
    if (answered) this.#presence.seen(connection.agentId, connection.lastSeenAt, health);
    if (previous === status) return;
    this.#log.info({ agentId: connection.agentId, from: previous, to: status }, "agent health status changed");
    this.#events.publish("agent.health_changed", { agentId: connection.agentId, from: previous ?? null, to: status, health });
    this.#persist(connection.agentId, { ...this.#presence.settle(connection.agentId), status });
  }

  /**
   * Shutdown: closes every connection with `code`, failing their pending commands with `error`, and records
   * every agent offline together — their last contact in one presence write per batch and one status update
   * for this replica (PresenceWriter.recordOffline) — instead of one write per agent as each socket closes
   * (remove() then only forgets it; until then a command to it fails with `error`, as it is closing). Their
   * `agent.disconnected` events are published at once, so the event log stores them in one batch. Resolves
   * once the store has the agents offline.
   */
  closeAll(code: number, reason: string, error: HubError): Promise<void> {
    const connections = [...this.#byId.values()];
    for (const connection of connections) {
      this.#departed.add(connection);
      connection.close(code, reason, error);
      this.#events.publish("agent.disconnected", { agentId: connection.agentId, replicaId: this.#replicaId });
      for (const o of this.#observers) o.removed(connection.agentId, connection);
    }
    return this.#presence
      .recordOffline(connections.map((c) => ({ id: c.agentId, lastSeenAt: c.lastSeenAt, lastHealth: null })))
      .catch((err: unknown) => this.#log.error({ err, agents: connections.length }, "recording agents offline failed"));
  }

  #persist(agentId: string, patch: Parameters<Store["updateAgent"]>[1]): void {
    this.#store.updateAgent(agentId, patch).catch((err: unknown) => this.#log.error({ agentId, err }, "recording agent presence failed"));
  }
}
