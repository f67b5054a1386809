import { STATUS_CODES, type IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import {
  AGENT_PATH,
  buildWelcome,
  ERROR_CODES,
  httpStatus,
  MIN_PROTOCOL_VERSION,
  PROTOCOL_HEADER,
  PROTOCOL_VERSION,
  UNSUPPORTED_PROTOCOL_STATUS,
  type HttpErrorCode,
} from "@uplink/protocol";
import { WebSocketServer, type WebSocket } from "ws";
import type { Logger } from "../logger.js";
import type { HubMetrics } from "../metrics.js";
import { bearer, parseCredential, secretMatches } from "../security/credentials.js";
import type { Store } from "../store/store.js";
import { AgentConnection, type ConnectionLimits } from "./agent-connection.js";
import type { AgentRegistry } from "./agent-registry.js";
import { HANDSHAKE_MAX_MS, HandshakePacer } from "./handshake-pacer.js";
import type { HealthPoller } from "./health-poller.js";

export interface AgentGatewayOptions {
  hubId: string;
  /** Admission cap; 0 is unlimited. */
  maxAgents: number;
  /** Handshakes in progress past which upgrades are paced (HandshakePacer); 0 paces nothing. */
  maxHandshakes: number;
  maxPayloadBytes: number;
  maxInflight: number;
  healthIntervalMs: number;
  limits: ConnectionLimits;
  /** Seconds a refused agent is told to wait (503 Retry-After). */
  retryAfterS: number;
}

/** An upgrade refused as plain HTTP: the code's registry status unless `status` says otherwise (426 only). */
interface Refusal {
  code: HttpErrorCode;
  /** The registry's default message of the code when absent. */
  message?: string;
  status?: number;
  headers?: Record<string, string>;
  /** `Retry-After` of a retryable code; the gateway's `retryAfterS` when absent. */
  retryAfterS?: number;
}

/**
 * The agent endpoint. Every decision is made before the upgrade, answered as plain HTTP when refused:
 *
 *   agent ── GET /v1/agent, Authorization, Uplink-Protocol ──▶ hub
 *            path?            no  → 404
 *            protocol 1..2?   no  → 426
 *            slot free?       no  → 503 + Retry-After   (nothing reserved)
 *            room for one more
 *            handshake?       no  → 503 + Retry-After: its turn (HandshakePacer; nothing reserved)
 *            reserve slot
 *            credential ok?   no  → 401 / 403           (slot released)
 *   agent ◀── 101 Switching Protocols, then `welcome` ── hub
 *
 * The slot is held until the socket closes, whatever the reason.
 */
export class AgentGateway {
  readonly #wss: WebSocketServer;
  readonly #opts: AgentGatewayOptions;
  readonly #store: Store;
  readonly #registry: AgentRegistry;
  readonly #poller: HealthPoller;
  readonly #metrics: HubMetrics;
  readonly #log: Logger;
  #slots = 0;
  readonly #pacer: HandshakePacer;
  #accepting = true;
  #whenEmpty: (() => void)[] = [];

  constructor(opts: AgentGatewayOptions, deps: { store: Store; registry: AgentRegistry; poller: HealthPoller; metrics: HubMetrics; log: Logger }) {
    this.#opts = opts;
    this.#store = deps.store;
    this.#registry = deps.registry;
    this.#poller = deps.poller;
    this.#metrics = deps.metrics;
    this.#log = deps.log;
    this.#pacer = new HandshakePacer(opts.maxHandshakes);
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxPayloadBytes, clientTracking: false });
  }

  /** Sockets admitted or being admitted (the admission cap counts these). */
  get slots(): number {
    return this.#slots;
  }

  /** Refuses every further upgrade (shutdown). */
  stopAccepting(): void {
    this.#accepting = false;
  }

  /** The HTTP server's `upgrade` listener. Never throws. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on("error", (err) => this.#log.debug({ err: err.message }, "upgrade socket error"));
    const path = (req.url ?? "").split("?")[0];
    if (path !== AGENT_PATH) return this.#refuse(socket, { code: "not_found", message: `no WebSocket endpoint at ${path}` });
    if (!this.#accepting) return this.#refuse(socket, { code: "hub_shutting_down", message: "hub is shutting down" });
    const protocol = parseProtocol(req.headers[PROTOCOL_HEADER]);
    if (protocol === undefined) {
      return this.#refuse(socket, { code: "invalid_request", status: UNSUPPORTED_PROTOCOL_STATUS, message: `unsupported protocol; this hub speaks ${MIN_PROTOCOL_VERSION} to ${PROTOCOL_VERSION}`, headers: { [PROTOCOL_HEADER]: String(PROTOCOL_VERSION) } });
    }
    if (this.#opts.maxAgents > 0 && this.#slots >= this.#opts.maxAgents) {
      return this.#refuse(socket, { code: "busy", message: `hub is at its cap of ${this.#opts.maxAgents} agents` });
    }
    if (!this.#pacer.tryStart()) {
      this.#metrics.upgradesPaced.inc();
      return this.#refuse(socket, { code: "busy", message: "hub is admitting other agents; retry at your turn", retryAfterS: this.#pacer.retryAfterS() });
    }
    this.#slots++;
    // The handshake ends with the agent's hello (completed), or its silence, or its socket's close.
    let handshaking = true;
    const handshaken = (completed: boolean): void => {
      if (!handshaking) return;
      handshaking = false;
      clearTimeout(silent);
      this.#pacer.end(completed);
    };
    const silent = setTimeout(() => handshaken(false), HANDSHAKE_MAX_MS);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      handshaken(false);
      this.#slots--;
      if (this.#slots === 0) for (const resolve of this.#whenEmpty.splice(0)) resolve();
    };
    socket.once("close", release);
    this.#authenticate(req)
      .then((outcome) => {
        if (socket.destroyed) return release();
        // Shutdown may have begun while the credential was being checked (a remote store): a socket
        // upgraded now would never be closed by it.
        if (!this.#accepting) {
          release();
          return this.#refuse(socket, { code: "hub_shutting_down", message: "hub is shutting down" });
        }
        if ("code" in outcome) {
          release();
          return this.#refuse(socket, outcome);
        }
        // The 101 and the welcome leave in one write, not two: in a reconnect storm the hub's largest cost is
        // its syscalls per agent. ws completes an upgrade synchronously (no verifyClient), so uncork follows it.
        socket.cork();
        this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, outcome.agentId, protocol, release, handshaken));
        socket.uncork();
      })
      .catch((err: unknown) => {
        release();
        this.#log.error({ err }, "agent authentication failed");
        this.#refuse(socket, { code: "not_ready", message: "hub store unavailable" });
      });
  }

  async #authenticate(req: IncomingMessage): Promise<{ agentId: string } | Refusal> {
    const value = bearer(req.headers.authorization);
    const credential = value === undefined ? undefined : parseCredential(value);
    if (credential === undefined) return { code: "unauthorized", message: "missing or malformed agent credential" };
    const agent = await this.#store.findAgent(credential.id);
    if (agent === undefined || !secretMatches(credential.secret, agent.secretHash)) {
      return { code: "unauthorized", message: "unknown agent or wrong key" };
    }
    if (agent.revokedAt !== null) return { code: "forbidden", message: `agent ${agent.id} is revoked` };
    return { agentId: agent.id };
  }

  #accept(ws: WebSocket, agentId: string, protocol: number, release: () => void, handshaken: (completed: boolean) => void): void {
    const log = this.#log.child({ agentId });
    const connection = new AgentConnection(ws, {
      agentId,
      protocol,
      log,
      metrics: this.#metrics,
      limits: this.#opts.limits,
      onHello: (c, hello) => {
        handshaken(true);
        log.info({ hostname: hello.hostname, agentVersion: hello.agentVersion, protocol: hello.protocol }, "agent hello");
        this.#registry.recordHello(c, hello);
      },
      onLegacyShapes: (c, shapes) => this.#registry.recordLegacyShapes(c, shapes),
      onClose: (c) => {
        release();
        this.#poller.untrack(c);
        this.#registry.remove(c);
        // A shutdown closes every socket at once: one summary line then (hub.ts), not one per agent.
        if (this.#accepting) log.info("agent disconnected");
        else log.debug("agent disconnected");
      },
    });
    this.#metrics.agentConnections.inc();
    this.#registry.add(connection);
    if (protocol >= 2) {
      ws.send(
        buildWelcome({
          protocol: Math.min(protocol, PROTOCOL_VERSION),
          hubId: this.#opts.hubId,
          agentId,
          healthIntervalMs: this.#opts.healthIntervalMs,
          maxInflight: this.#opts.maxInflight,
        }),
      );
    }
    this.#poller.track(connection);
    // A protocol-1 agent may never say hello: its handshake ends with the upgrade.
    if (protocol < 2) handshaken(true);
    log.info({ protocol }, "agent connected");
  }

  /** Answers a refusal as plain HTTP; a retryable code tells the agent when to come back (`Retry-After`). */
  #refuse(socket: Duplex, refusal: Refusal): void {
    const spec = ERROR_CODES[refusal.code];
    const status = refusal.status ?? httpStatus(refusal.code);
    this.#metrics.upgradesRefused.inc({ status: String(status) });
    if (socket.destroyed) return;
    const body = JSON.stringify({ error: { code: refusal.code, message: refusal.message ?? spec.message } });
    const headers = {
      "Content-Type": "application/json",
      "Content-Length": String(Buffer.byteLength(body)),
      Connection: "close",
      ...(spec.retryable ? { "Retry-After": String(refusal.retryAfterS ?? this.#opts.retryAfterS) } : {}),
      ...refusal.headers,
    };
    const head = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\n${head}\r\n${body}`, () => socket.destroy());
  }

  /** Resolves once every admitted socket has closed and released its slot. */
  drained(): Promise<void> {
    if (this.#slots === 0) return Promise.resolve();
    return new Promise((resolve) => this.#whenEmpty.push(resolve));
  }

  /** Closes the WebSocket server (connections are closed by the registry first). */
  close(): Promise<void> {
    return new Promise((resolve) => this.#wss.close(() => resolve()));
  }
}

/** `Uplink-Protocol` header → version; absent means 1; undefined when unsupported. */
function parseProtocol(header: string | string[] | undefined): number | undefined {
  if (header === undefined) return MIN_PROTOCOL_VERSION;
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined;
  const version = Number(value);
  return version >= MIN_PROTOCOL_VERSION && version <= PROTOCOL_VERSION ? version : undefined;
}
