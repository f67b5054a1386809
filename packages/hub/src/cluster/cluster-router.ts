import type { AgentRegistry } from "../agents/agent-registry.js";
import { PendingCommands, type CommandReply, type CommandRequest, type PendingCommand } from "../agents/pending-commands.js";
import { AgentOfflineError, BusUnavailableError, CommandCancelledError, CommandTimeoutError, ConnectionLostError, HubError } from "../errors.js";
import type { EventLog } from "../events/event-log.js";
import type { Logger } from "../logger.js";
import type { HubMetrics } from "../metrics.js";
import { LocalCommandRouter, type CommandRouter } from "../queries/command-router.js";
import type { AgentRecord, Store } from "../store/store.js";
import { AgentOwnership } from "./agent-ownership.js";
import type { BusMessage, ClusterBus } from "./cluster-bus.js";

/** How often replicas holding our remote commands are checked for a heartbeat. */
const OWNER_WATCH_MS = 1_000;
/** Extra wait past a remote command's deadline: the owner times it out first and says so. */
const REMOTE_GRACE_MS = 1_000;

/**
 * Delivery across replicas. An agent held here is served by the local router; any other is looked up
 * on the bus and the command published to its owner's channel with this replica's id; the owner runs it
 * on its socket and publishes the reply back, matched here by correlationId:
 *
 *   caller ─▶ replica A ── cmd{from:A, correlationId} ──▶ replica B ─▶ agent
 *   caller ◀─ replica A ◀── reply{correlationId} ──────── replica B ◀─ agent
 *
 * Pub/Sub may lose a message, so every remote command keeps its deadline, and an owner whose
 * heartbeat stops fails its commands within seconds rather than at their deadline. Commands waiting for
 * another replica sit in a pending map of their own, the same kind each agent connection keeps.
 */
export class ClusterCommandRouter implements CommandRouter {
  readonly #local: LocalCommandRouter;
  /** Commands published to other replicas, waiting for their reply (`owner`: where they went). */
  readonly #remote = new PendingCommands();
  /** Owner side: the commands run here for other replicas, by correlationId, so a `cancel` can reach them. */
  readonly #forPeers = new Map<string, AbortController>();
  readonly #bus: ClusterBus;
  readonly #metrics: HubMetrics;
  readonly #log: Logger;
  readonly #timers: NodeJS.Timeout[];
  readonly #ownership: AgentOwnership;
  /** Cancels a fan-out collected here, asked by another replica (set by the hub once its fan-outs exist). */
  #cancelFanout: (fanoutId: string, by: string) => Promise<boolean> = async () => false;

  constructor(deps: { bus: ClusterBus; registry: AgentRegistry; store: Store; events: EventLog; metrics: HubMetrics; log: Logger }) {
    this.#bus = deps.bus;
    this.#metrics = deps.metrics;
    this.#log = deps.log;
    this.#local = new LocalCommandRouter(deps.registry);
    this.#ownership = new AgentOwnership({ bus: deps.bus, registry: deps.registry, store: deps.store, local: this.#local, metrics: deps.metrics, log: deps.log });
    deps.bus.listen({
      message: (message) => this.#onMessage(message),
      events: (events) => deps.events.deliver(events),
      takenOver: (takeovers) => this.#ownership.onTakenOver(takeovers),
      lost: () => {
        if (this.#remote.size > 0) this.#log.warn({ pending: this.#remote.size }, "lost the cluster bus; failing the commands waiting for another replica");
        this.#failAll(new BusUnavailableError(new Error("the connection to Redis was lost")));
      },
      restored: () => {
        this.#log.info("cluster bus back; writing agent ownership again and reconciling held agents with the store");
        this.#ownership.restored();
      },
    });
    deps.events.relay((events) => deps.bus.publishEvents(events).catch((err: unknown) => this.#log.warn({ err: (err as Error).message }, "relaying hub events failed")));
    this.#timers = [setInterval(() => void this.#watchOwners(), OWNER_WATCH_MS)];
  }

  holds(agentId: string): boolean {
    return this.#local.holds(agentId);
  }

  async dispatch(agentId: string, request: CommandRequest): Promise<CommandReply> {
    if (this.#local.holds(agentId)) return this.#local.dispatch(agentId, request);
    let owner: string | null;
    try {
      [owner = null] = await this.#bus.owners([agentId]);
    } catch (err) {
      throw new BusUnavailableError(err);
    }
    if (owner === null || owner === this.#bus.replicaId) throw new AgentOfflineError(agentId);
    const { correlationId, sessionId, kind, collector, query, timeoutMs } = request;
    const entry = this.#remote.add(request, (e) => e.reject(new CommandTimeoutError(timeoutMs)), timeoutMs + REMOTE_GRACE_MS);
    entry.owner = owner;
    // Published after the command on the same connection, so the owner never sees the cancel first.
    const signal = request.signal;
    if (signal?.aborted) queueMicrotask(() => this.#cancelRemote(correlationId, CommandCancelledError.fromSignal(signal)));
    else signal?.addEventListener("abort", () => this.#cancelRemote(correlationId, CommandCancelledError.fromSignal(signal)), { once: true });
    let receivers: number;
    try {
      receivers = await this.#bus.send(owner, { t: "cmd", from: this.#bus.replicaId, agentId, request: { correlationId, sessionId, kind, collector, query, timeoutMs } });
    } catch (err) {
      this.#fail(correlationId, new BusUnavailableError(err));
      return entry.promise;
    }
    this.#metrics.clusterDelivery.inc({ stage: "published" });
    request.log.debug({ owner }, "command published to the owner replica");
    if (receivers === 0) {
      this.#metrics.clusterDelivery.inc({ stage: "undeliverable" });
      this.#fail(correlationId, HubError.of("replica_unreachable", `replica ${owner} holding agent ${agentId} is not listening`));
    }
    return entry.promise;
  }

  /** The caller of a remote command gave up: fail it here at once and tell the owner to cancel it. */
  #cancelRemote(correlationId: string, error: CommandCancelledError): void {
    const pending = this.#fail(correlationId, error);
    if (pending?.owner === undefined) return;
    this.#bus.send(pending.owner, { t: "cancel", correlationId }).catch((err: unknown) => pending.request.log.warn({ err: (err as Error).message }, "could not tell the owner replica to cancel"));
  }

  /** Closes the revoked agent's socket here, or tells the replica holding it to. */
  async revoke(agentId: string): Promise<void> {
    if (this.#local.holds(agentId)) return this.#local.revoke(agentId);
    const [owner = null] = await this.#bus.owners([agentId]);
    if (owner !== null && owner !== this.#bus.replicaId) await this.#bus.send(owner, { t: "revoke", agentId });
  }

  /** What cancels a fan-out collected here when another replica asks (`cancel-fanout`). */
  onCancelFanout(cancel: (fanoutId: string, by: string) => Promise<boolean>): void {
    this.#cancelFanout = cancel;
  }

  async cancelFanoutOn(replicaId: string, fanoutId: string, by: string): Promise<boolean> {
    if (replicaId === this.#bus.replicaId) return false;
    try {
      return (await this.#bus.send(replicaId, { t: "cancel-fanout", fanoutId, by })) > 0;
    } catch (err) {
      throw new BusUnavailableError(err);
    }
  }

  /** Commands published to other replicas and still waiting for their reply. */
  get pendingCount(): number {
    return this.#remote.size;
  }

  /** Agents recorded online that no live replica holds (released, or their replica died) read as offline. */
  async presence(agents: AgentRecord[]): Promise<AgentRecord[]> {
    const owners = await this.#bus.owners(agents.map((a) => a.id)).catch(() => undefined);
    if (owners === undefined) return agents;
    return agents.map((a, i) => (a.status !== "offline" && owners[i] === null ? { ...a, status: "offline" } : a));
  }

  /** Stops the timers and fails every remote command still waiting; resolves once a reconciliation in progress ended. */
  close(): Promise<void> {
    for (const timer of this.#timers) clearInterval(timer);
    this.#failAll(new ConnectionLostError("hub_shutting_down", "the hub is shutting down"));
    return this.#ownership.close();
  }

  #onMessage(message: BusMessage): void {
    switch (message.t) {
      case "cmd":
        return void this.#runForPeer(message);
      case "reply":
      case "fail": {
        const pending = this.#remote.take(message.correlationId);
        if (pending === undefined) {
          this.#metrics.clusterDelivery.inc({ stage: "orphaned" });
          this.#log.warn({ correlationId: message.correlationId }, "reply from another replica matches no pending command; dropped");
          return;
        }
        this.#metrics.clusterDelivery.inc({ stage: "returned" });
        if (message.t === "reply") pending.resolve({ correlationId: message.correlationId, ...message.reply });
        else pending.reject(new HubError(message.error.code, message.error.status, message.error.message));
        return;
      }
      case "takeover":
        return this.#ownership.onTakeover(message);
      case "revoke": {
        this.#log.info({ agentId: message.agentId }, "agent revoked through another replica; closing its socket");
        return void this.#local.revoke(message.agentId);
      }
      case "cancel":
        return this.#forPeers.get(message.correlationId)?.abort();
      case "cancel-fanout": {
        this.#log.info({ fanoutId: message.fanoutId, by: message.by }, "fan-out cancel from another replica");
        return void this.#cancelFanout(message.fanoutId, message.by).catch((err: unknown) => this.#log.error({ err, fanoutId: message.fanoutId }, "cancelling a fan-out failed"));
      }
    }
  }

  /** Owner side: run a peer's command on the socket held here and publish the outcome back. */
  async #runForPeer(message: Extract<BusMessage, { t: "cmd" }>): Promise<void> {
    const { correlationId } = message.request;
    const log = this.#log.child({ correlationId, agentId: message.agentId, requester: message.from });
    let answer: BusMessage;
    const cancel = new AbortController();
    try {
      if (!this.#local.holds(message.agentId)) throw new AgentOfflineError(message.agentId);
      this.#metrics.clusterDelivery.inc({ stage: "delivered" });
      log.debug("command from another replica delivered to the agent's socket");
      this.#forPeers.set(correlationId, cancel);
      const reply = await this.#local.dispatch(message.agentId, { ...message.request, log, signal: cancel.signal }).finally(() => this.#forPeers.delete(correlationId));
      const { ok, result, error, code, durationMs } = reply;
      answer = { t: "reply", correlationId, reply: { ok, result, error, code, durationMs } };
    } catch (err) {
      const error = err instanceof HubError ? err : HubError.of("internal", (err as Error).message);
      answer = { t: "fail", correlationId, error: { code: error.code, status: error.status, message: error.message } };
    }
    // Cancelled by the requester, which already failed it: a reply would only arrive as an orphan.
    if (cancel.signal.aborted) return;
    try {
      await this.#bus.send(message.from, answer);
      log.debug({ ok: answer.t === "reply" }, "reply published to the requesting replica");
    } catch (err) {
      log.warn({ err: (err as Error).message }, "could not publish the reply; the requester will time out");
    }
  }

  /** Fails the remote commands of every owner whose heartbeat has stopped. */
  async #watchOwners(): Promise<void> {
    const owners = new Set([...this.#remote.values()].map((p) => p.owner));
    for (const owner of owners) {
      if (owner === undefined || (await this.#bus.alive(owner).catch(() => true))) continue;
      for (const pending of [...this.#remote.values()]) {
        if (pending.owner === owner) this.#fail(pending.request.correlationId, HubError.of("replica_unreachable", `replica ${owner} holding the agent stopped answering`));
      }
    }
  }

  /** Fails one remote command (if still pending) and returns it. */
  #fail(correlationId: string, error: HubError): PendingCommand | undefined {
    const pending = this.#remote.take(correlationId);
    if (pending === undefined) return undefined;
    pending.request.log.warn({ code: error.code, owner: pending.owner }, "remote command failed");
    pending.reject(error);
    return pending;
  }

  #failAll(error: HubError): void {
    for (const pending of [...this.#remote.values()]) this.#fail(pending.request.correlationId, error);
  }
}
