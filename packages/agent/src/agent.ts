import type { Logger } from "pino";
import type { Collector } from "./collectors/collector.js";
import { DEFAULT_MAX_WORKERS, DEFAULT_WORKER_MEMORY_MB, type AgentConfig } from "./config.js";
import { CommandDispatcher } from "./dispatcher.js";
import { HubClient, type HubClientState } from "./hub-client.js";
import { DEFAULT_MAX_INFLIGHT } from "@uplink/protocol";
import { createHostCollector, type HostCollector } from "./sql/host-collector.js";
import { AGENT_VERSION } from "./version.js";

/** What a running agent needs: where its hub is, who it is, and its tunables. */
export type AgentSettings = Pick<
  AgentConfig,
  | "pingTimeoutMs"
  | "reconnectBaseMs"
  | "reconnectCapMs"
  | "maxPayload"
  | "queryTimeoutMs"
  | "maxResultRows"
  | "maxResultBytes"
> &
  // Optional so embedders need not know them: default DEFAULT_MAX_WORKERS and DEFAULT_WORKER_MEMORY_MB.
  Partial<Pick<AgentConfig, "maxWorkers" | "workerMemoryMb" | "hostRoot" | "enableSecretTables">> & {
  /** The hub's base URL, `http(s)://host:port`. */
  hub: string;
  /** CAs to verify an `https://` hub against (`loadTrust`); undefined keeps Node's defaults. */
  ca?: string[] | undefined;
  /** The complete credential `<agentId>.<secret>`. */
  agentKey: string;
  hostname: string;
  labels: Record<string, string>;
};

/** What the agent is built from besides its settings. */
export interface AgentDeps {
  log: Logger;
  /** The collectors commands can name; the agent owns and closes them. Default: the `host` SQL collector. */
  collectors?: Collector[];
  /** Random source of the reconnect jitter, in [0, 1). */
  random?: () => number;
}

/** The agent daemon: one hub connection, the commands it carries, the collectors that answer them. */
export interface Agent {
  /**
   * Connects to the hub (and keeps reconnecting). The promise settles when the agent stops for good:
   * it resolves after close() and rejects with `CredentialRejectedError` when the hub refuses or revoked the key.
   */
  start(): Promise<void>;
  /** Disconnects, aborts running queries, closes the collectors. Idempotent. */
  close(): Promise<void>;
  /** The hub connection's state. */
  readonly connectionState: HubClientState;
  /** Queries running now. */
  readonly inflight: number;
  /** The cap on concurrent queries, as the hub's `welcome` set it. */
  readonly maxInflight: number;
}

/** Builds an agent that is not yet connected; start() connects it. */
export function createAgent(config: AgentSettings, deps: AgentDeps): Agent {
  const log = deps.log;
  const maxWorkers = config.maxWorkers ?? DEFAULT_MAX_WORKERS;
  // The host collector reads the agent's live state for its `agent` table when each query starts.
  const host =
    deps.collectors === undefined
      ? createHostCollector({
          poolSize: Math.min(DEFAULT_MAX_INFLIGHT, maxWorkers),
          workerMemoryMb: config.workerMemoryMb ?? DEFAULT_WORKER_MEMORY_MB,
          agentInfo: () => ({
            version: AGENT_VERSION,
            hub: config.hub,
            connectionState: client.state,
            inflight: dispatcher.inflight,
            maxInflight: dispatcher.maxInflight,
            maxResultRows: config.maxResultRows,
            maxResultBytes: config.maxResultBytes,
            queryTimeoutMs: config.queryTimeoutMs,
            uptimeS: process.uptime(),
          }),
          ...(config.hostRoot !== undefined ? { hostRoot: config.hostRoot } : {}),
          ...(config.enableSecretTables !== undefined ? { secretTablesEnabled: config.enableSecretTables } : {}),
        })
      : undefined;
  const collectors = deps.collectors ?? [host as HostCollector];

  // The dispatcher and the client refer to each other through these callbacks; both exist before any frame flows.
  const dispatcher: CommandDispatcher = new CommandDispatcher({
    collectors,
    log,
    agentVersion: AGENT_VERSION,
    queryTimeoutMs: config.queryTimeoutMs,
    maxResultRows: config.maxResultRows,
    maxResultBytes: config.maxResultBytes,
    maxInflight: Math.min(DEFAULT_MAX_INFLIGHT, maxWorkers),
    maxInflightCeiling: maxWorkers,
    send: (frame) => {
      if (!client.send(frame)) {
        log.warn({ correlationId: frame.correlationId, sessionId: frame.sessionId }, "not connected; response dropped");
      }
    },
    onWelcome: (welcome) => {
      // One worker per query the hub may send at once, so none waits silently behind the others (rule 6).
      host?.resize(dispatcher.maxInflight);
      client.noteWelcome(welcome);
    },
  });
  const client: HubClient = new HubClient({
    hub: config.hub,
    agentKey: config.agentKey,
    identity: { agentVersion: AGENT_VERSION, hostname: config.hostname, labels: config.labels },
    log,
    onFrame: (text) => dispatcher.handleFrame(text),
    onDisconnect: () => dispatcher.abortAll("the connection to the hub was lost"),
    pingTimeoutMs: config.pingTimeoutMs,
    reconnectBaseMs: config.reconnectBaseMs,
    reconnectCapMs: config.reconnectCapMs,
    maxPayload: config.maxPayload,
    ca: config.ca,
    ...(deps.random !== undefined ? { random: deps.random } : {}),
  });

  let closing: Promise<void> | undefined;
  return {
    start() {
      client.start();
      return client.stopped();
    },
    close() {
      // Reverse of start-up: stop the socket first so no new command arrives, then the work, then the collectors.
      closing ??= (async () => {
        await client.close();
        dispatcher.abortAll("the agent is stopping");
        const results = await Promise.allSettled(collectors.map((c) => c.close()));
        for (const result of results) {
          if (result.status === "rejected") log.warn({ err: result.reason }, "a collector failed to close");
        }
      })();
      return closing;
    },
    get connectionState() {
      return client.state;
    },
    get inflight() {
      return dispatcher.inflight;
    },
    get maxInflight() {
      return dispatcher.maxInflight;
    },
  };
}
