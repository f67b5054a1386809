import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { CloseCode, MAX_HEALTH_SAMPLES } from "@uplink/protocol";
import { AgentGateway } from "./agents/agent-gateway.js";
import { AgentRegistry } from "./agents/agent-registry.js";
import { HealthPoller } from "./agents/health-poller.js";
import { PingSweep } from "./agents/ping-sweep.js";
import { PresenceWriter } from "./agents/presence-writer.js";
import { Authenticator } from "./api/auth.js";
import { consoleRoutes } from "./api/console-files.js";
import { Idempotency } from "./api/idempotency.js";
import { MetricsListener } from "./api/metrics-listener.js";
import { routeTable } from "./api/route-table.js";
import { createRequestListener } from "./api/router.js";
import type { ApiServices } from "./api/services.js";
import { SseStreams } from "./api/sse.js";
import { ConfigError, DEFAULT_AUDIT_RESULT_MAX_BYTES, type HubConfig } from "./config.js";
import { ConnectionLostError } from "./errors.js";
import { DestinationDelivery } from "./destinations/destination-delivery.js";
import { EventLog } from "./events/event-log.js";
import type { Logger } from "./logger.js";
import { HubMetrics } from "./metrics.js";
import { ClusterCommandRouter } from "./cluster/cluster-router.js";
import type { ClusterBus } from "./cluster/cluster-bus.js";
import { LostReplicaSweeper } from "./cluster/lost-replicas.js";
import { closeOutOpenWork, HUB_RESTARTED } from "./queries/open-work.js";
import { LocalCommandRouter } from "./queries/command-router.js";
import { FanoutService } from "./queries/fanout-service.js";
import { QueryService } from "./queries/query-service.js";
import { SchemaCatalog } from "./queries/schema-catalog.js";
import { RateLimiter } from "./security/rate-limiter.js";
import { Sessions } from "./security/sessions.js";
import { Scheduler } from "./schedules/scheduler.js";
import { Pruner, type PrunerSettings } from "./store/pruner.js";
import { SqliteStore } from "./store/sqlite-store.js";
import type { HubEventType, Store } from "./store/store.js";

/** Seconds a refused agent is told to wait before retrying. */
export const RETRY_AFTER_S = 5;
/** Past this many agent sockets, shutdown does not wait for each agent's half of the closing handshake. */
const LARGE_FLEET = 1000;
/** How long a large fleet gets to read its close frames before the sockets are cut. */
const LARGE_FLEET_CLOSE_GRACE_MS = 300;
/** The lease on the cluster bus whose holder runs the schedules, and its lifetime: a dead holder's passes to another replica within it (renewed every second). */
const SCHEDULER_LEASE = "scheduler";
const SCHEDULER_LEASE_TTL_MS = 3_000;
/**
 * Connections the kernel queues for the hub before it accepts them (Node's default is 511; the kernel caps it
 * at net.core.somaxconn). A fleet that reconnects after a restart dials faster than a busy event loop
 * accepts; a dropped SYN costs its agent a TCP retransmission, 1 s and then 3, 7, 15 s later.
 */
const LISTEN_BACKLOG = 4096;
/** How long shutdown waits for in-flight HTTP requests before cutting their connections. */
const HTTP_DRAIN_MS = 3000;

export interface HubDeps {
  log: Logger;
  /** Defaults to the embedded SQLite file in `config.dataDir`. */
  store?: Store;
  /** Cluster mode: the bus shared with the other replicas (Redis) (its replicaId is this hub's id). */
  bus?: ClusterBus;
  hubId?: string;
}

export interface Hub {
  readonly hubId: string;
  readonly server: Server;
  readonly store: Store;
  readonly registry: AgentRegistry;
  readonly metrics: HubMetrics;
  /** Starts listening on the configured host and port (and the metrics listener); resolves with the API's address. */
  listen(): Promise<AddressInfo>;
  /** Where `/metrics` is served once listening; undefined with `--metrics-port off`. */
  readonly metricsAddress: AddressInfo | undefined;
  /**
   * Stops: refuses new agents, closes agent sockets with 1001 "going away" (failing their pending
   * commands at once; the agents retry on their short restart schedule), lets in-flight requests answer,
   * closes the store. Idempotent.
   */
  close(): Promise<void>;
}

/** The pruner's settings from the hub's configuration. */
function pruneSettings(config: HubConfig): PrunerSettings {
  return {
    audit: { maxAgeMs: config.auditRetentionMs, maxCount: config.auditMaxRows },
    fanouts: { maxAgeMs: config.fanoutRetentionMs, maxCount: config.fanoutMaxTargets },
    events: { maxAgeMs: config.eventRetentionMs, maxCount: config.eventMaxRows },
    // By default as long as the agent page's chart reaches back: MAX_HEALTH_SAMPLES presence flushes.
    healthSamplesMaxAgeMs: config.healthRetentionMs ?? MAX_HEALTH_SAMPLES * config.presenceFlushMs,
    scheduleRuns: { maxAgeMs: config.scheduleResultRetentionMs, maxCount: config.scheduleResultMaxRows },
    intervalMs: config.pruneIntervalMs,
    batchRows: config.pruneBatchRows,
  };
}

/** A fresh hub (replica) id. */
export function newHubId(): string {
  return `hub_${randomBytes(4).toString("hex")}`;
}

/** Builds a hub that is not yet listening. `main` listens and handles signals. */
export function buildHub(config: HubConfig, deps: HubDeps): Hub {
  const hubId = deps.bus?.replicaId ?? deps.hubId ?? newHubId();
  const log = deps.log.child({ hubId });
  const store = deps.store ?? new SqliteStore(join(config.dataDir, "uplink.db"));
  const metrics = new HubMetrics();
  const events = new EventLog({ store, log, metrics, maxEvents: config.eventMaxRows });
  const destinations = new DestinationDelivery({
    store,
    events,
    metrics,
    log,
    replicaId: hubId,
    embedded: deps.bus === undefined,
    settings: {
      timeoutMs: config.destinationTimeoutMs,
      retryMinMs: config.destinationRetryMinMs,
      retryMaxMs: config.destinationRetryMaxMs,
      fileMaxBytes: config.destinationFileMaxBytes,
      fileKeep: config.destinationFileKeep,
    },
  });
  metrics.observeDestinations(() => store.destinationBacklog());
  const pruner = new Pruner({ store, metrics, log, settings: pruneSettings(config) });
  const presence = new PresenceWriter({ store, replicaId: hubId, flushIntervalMs: config.presenceFlushMs, log });
  const registry = new AgentRegistry({ store, events, presence, log, replicaId: hubId });
  const poller = new HealthPoller({ intervalMs: config.healthIntervalMs, registry, metrics, log });
  const gateway = new AgentGateway(
    {
      hubId,
      maxAgents: config.maxAgents,
      maxHandshakes: config.maxHandshakes,
      maxPayloadBytes: config.maxPayloadBytes,
      maxInflight: config.maxInflight,
      healthIntervalMs: config.healthIntervalMs,
      limits: { sendHighWaterBytes: config.sendHighWaterBytes, sendHardLimitBytes: config.sendHardLimitBytes, maxFramesPerSecond: config.agentFrameRate },
      retryAfterS: RETRY_AFTER_S,
    },
    { store, registry, poller, metrics, log },
  );
  const cluster = deps.bus === undefined ? undefined : new ClusterCommandRouter({ bus: deps.bus, registry, store, events, metrics, log });
  const router = cluster ?? new LocalCommandRouter(registry);
  // Pending commands include those published to another replica and awaiting its reply.
  metrics.observe({ connectedAgents: () => registry.size, pendingCommands: () => registry.pendingCount() + (cluster?.pendingCount ?? 0) });
  const commandDeps = { store, router, events, metrics, log, auditResultMaxBytes: DEFAULT_AUDIT_RESULT_MAX_BYTES, replicaId: hubId };
  const queries = new QueryService(commandDeps);
  const fanouts = new FanoutService(commandDeps);
  cluster?.onCancelFanout((id, by) => fanouts.cancel(id, by));
  // In a cluster exactly one replica runs the schedules: the holder of a lease on the bus.
  const lease = deps.bus === undefined ? undefined : { hold: () => deps.bus!.lease(SCHEDULER_LEASE, SCHEDULER_LEASE_TTL_MS), release: () => deps.bus!.releaseLease(SCHEDULER_LEASE) };
  const scheduler = new Scheduler({ store, router, events, metrics, log, hubId, defaultTimeoutMs: config.queryTimeoutMs, lease });
  const streams = new SseStreams(metrics);
  const enrollLimiter = new RateLimiter(config.enrollRate, 60_000);
  // Failed console sign-ins are held to the enrollment rate: both guess at a token.
  const signInLimiter = new RateLimiter(config.enrollRate, 60_000);
  const sessions = new Sessions(store, config.sessionTtlMs);
  const schemas = new SchemaCatalog({ store, router, log, timeoutMs: config.queryTimeoutMs });
  const auth = new Authenticator(store, sessions);
  const ready = async () => (await store.ready()) && (deps.bus?.ready() ?? true);
  const services: ApiServices = {
    config, hubId, ready, store, registry, presence, router, queries, fanouts, scheduler, events, destinations, streams, metrics, enrollLimiter, signInLimiter, sessions, schemas, auth, log,
  };
  // Every POST takes an Idempotency-Key (api/idempotency.ts); a new POST route gets it by being listed here.
  const idempotency = new Idempotency({ store, metrics, log, hubId, retentionMs: config.idempotencyRetentionMs, embedded: deps.bus === undefined });
  // The web console's page and assets are served beside the REST API, but are not part of it.
  const routes = [...routeTable(services).map((r) => idempotency.wrap(r)), ...consoleRoutes(config.consoleDir)];

  const listener = createRequestListener(routes, { auth, log, ready });
  const httpOptions = { maxHeaderSize: 16 * 1024, requestTimeout: 10 * 60_000 };
  const server: Server =
    config.tlsCert !== undefined && config.tlsKey !== undefined
      ? createHttpsServer({ ...httpOptions, cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) }, listener)
      : createHttpServer(httpOptions, listener);
  server.maxHeadersCount = 200;
  server.on("upgrade", (req, socket, head) => gateway.handleUpgrade(req, socket, head));
  server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    // Too many or too large headers get the status that says so; anything else the parser refused is a 400.
    const status = err.code === "HPE_HEADER_OVERFLOW" ? "431 Request Header Fields Too Large" : "400 Bad Request";
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`);
    else socket.destroy();
  });

  const metricsListener = config.metricsPort === "off" ? undefined : new MetricsListener(metrics, config.metricsHost, config.metricsPort);
  let metricsAddress: AddressInfo | undefined;
  const pings = new PingSweep(() => registry.connections(), config.pingIntervalMs);
  let sweeper: LostReplicaSweeper | undefined;
  let closing: Promise<void> | undefined;

  async function listen(): Promise<AddressInfo> {
    // The embedded store belongs to this one process: whatever it recorded online is offline now. In a
    // cluster each replica has a fresh id, and presence comes from the ownership on the cluster bus.
    if (deps.bus === undefined) await store.markOffline(null);
    // Likewise, every command and fan-out still open was left by that process: nothing will ever finish
    // it, so it is closed out before anyone can ask. In a cluster, replicas close out the dead ones'.
    if (deps.bus === undefined) await closeOutOpenWork({ store, events, metrics, log }, null, HUB_RESTARTED);
    else sweeper = new LostReplicaSweeper({ store, bus: deps.bus, events, metrics, log });
    await idempotency.start();
    pruner.start();
    presence.start();
    await destinations.start();
    scheduler.start();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ port: config.port, host: config.host, backlog: LISTEN_BACKLOG }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    try {
      metricsAddress = await metricsListener?.listen();
    } catch (err) {
      server.close();
      const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new ConfigError(`invalid --metrics-port / UPLINK_METRICS_PORT: cannot listen on ${config.metricsHost}:${config.metricsPort} (${why}); choose another port, or off`);
    }
    pings.start();
    const address = server.address() as AddressInfo;
    log.info(
      { host: address.address, port: address.port, tls: config.tlsCert !== undefined, maxAgents: config.maxAgents, metricsHost: metricsAddress?.address, metricsPort: metricsAddress?.port },
      "hub listening",
    );
    return address;
  }

  async function shutdown(): Promise<void> {
    log.info("hub shutting down");
    // Each step's line says how far into the shutdown it ended: the 5 s budget of main.ts is spent here.
    const started = performance.now();
    const elapsedMs = () => Math.round(performance.now() - started);
    gateway.stopAccepting();
    pings.stop();
    idempotency.stop();
    const scheduled = scheduler.stop();
    const pruned = pruner.stop();
    const delivered = destinations.stop();
    const swept = sweeper?.stop();
    poller.stop();
    const httpClosed = new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
    await metricsListener?.close();
    const connections = [...registry.connections()];
    // The agents are recorded offline in a few statements, not one write each (AgentRegistry.closeAll).
    const offline = registry.closeAll(CloseCode.GOING_AWAY, "hub shutting down", new ConnectionLostError("hub_shutting_down", "the hub is shutting down"));
    log.info({ agents: connections.length, ms: elapsedMs() }, "close frames sent");
    if (connections.length > LARGE_FLEET) {
      // Every agent's half of the closing handshake costs the event loop some 100–250 µs: for tens of
      // thousands that is seconds of saturated loop in which no timer fires (the shutdown deadline
      // included). The close frames are out and every pending command has failed, so the hub stops
      // reading, gives the agents a moment to read their 1001, and cuts the sockets.
      for (const connection of connections) connection.stopReading();
      await new Promise((resolve) => setTimeout(resolve, LARGE_FLEET_CLOSE_GRACE_MS));
      for (const connection of connections) connection.destroy();
    }
    await gateway.drained();
    log.info({ agents: connections.length, ms: elapsedMs() }, "agent connections closed");
    await gateway.close();
    await swept;
    await cluster?.close();
    // Every pending command has failed by now, so every fan-out lands its last results and ends.
    await fanouts.idle();
    await scheduled;
    streams.endAll();
    const cut = setTimeout(() => server.closeAllConnections(), HTTP_DRAIN_MS);
    server.closeIdleConnections();
    await httpClosed;
    clearTimeout(cut);
    log.info({ ms: elapsedMs() }, "requests drained");
    // What the last polls saw of agents whose status did not change, before the store closes.
    await presence.stop();
    await offline;
    await events.drain();
    await pruned;
    await delivered;
    log.info({ ms: elapsedMs() }, "presence and events written");
    await deps.bus?.close();
    await store.close();
    log.info({ ms: elapsedMs() }, "hub stopped");
  }

  return {
    hubId,
    server,
    store,
    registry,
    metrics,
    listen,
    get metricsAddress() {
      return metricsAddress;
    },
    close: () => (closing ??= shutdown()),
  };
}
