// Longer than most files here: one agent socket's lifecycle, sends with their deadlines and cancels, and the
// dispatch of what the agent says all share the connection's state; the parts that stand alone are in
// legacy-sessions.ts (the protocol-1 session queue) and frame-budgets.ts (frame and violation budgets).
import {
  buildCancel,
  buildCommand,
  CloseCode,
  commandRef,
  LEGACY_REPLY_SHAPE_LIST,
  parseAgentToHub,
  VIOLATION_BUDGET,
  VIOLATION_WINDOW_MS,
  type AgentToHub,
  type DispatchTable,
  type Hello,
  type SessionResponse,
} from "@uplink/protocol";
import type { RawData, WebSocket } from "ws";
import { AgentAnsweredError, AgentBusyError, CommandCancelledError, CommandTimeoutError, ConnectionLostError, type HubError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { HubMetrics } from "../metrics.js";
import { RateBudget, SlidingBudget } from "./frame-budgets.js";
import { LegacySessions } from "./legacy-sessions.js";
import { PendingCommands, type CancelSignal, type CommandReply, type CommandRequest, type PendingCommand } from "./pending-commands.js";

/**
 * A connection's life:
 *
 *   open ──close(code, error)──▶ closing ──socket closed──▶ closed
 *     └───────────socket closed / terminated─────────────────▲
 *
 * `open`: commands may be sent. `closing`: the hub decided to close (replaced, revoked, shutdown,
 * violations); pending commands already failed. `closed`: the socket is gone and every timer of the
 * connection is cleared.
 */
export type ConnectionState = "open" | "closing" | "closed";

/** Per-connection limits that keep one agent from costing the hub unbounded memory or CPU. */
export interface ConnectionLimits {
  /** Past this many bytes buffered on the socket, new commands fail fast as busy. */
  sendHighWaterBytes: number;
  /** Past this many bytes buffered, the agent has stopped reading: the socket is terminated. */
  sendHardLimitBytes: number;
  /** Frames per second the agent may send; the rest are dropped as violations. */
  maxFramesPerSecond: number;
}

export interface AgentConnectionOptions {
  agentId: string;
  protocol: number;
  log: Logger;
  metrics: HubMetrics;
  limits: ConnectionLimits;
  onHello(connection: AgentConnection, hello: Hello): void;
  /** The legacy traits seen on this connection changed (see {@link AgentConnection.legacyShapes}). */
  onLegacyShapes(connection: AgentConnection, shapes: readonly string[]): void;
  onClose(connection: AgentConnection): void;
}

/** The trait of an agent whose first reply came before any `hello` (protocol 1 allows that). */
export const NO_HELLO = "no_hello";

/** Grace for the close handshake before the socket is cut. */
const CLOSE_GRACE_MS = 1000;

/**
 * One agent's WebSocket: sends commands, routes every reply to the caller that asked by correlationId
 * (rule 4), drops and counts what matches nothing (rule 5), and fails everything pending the moment it
 * closes (rule 8).
 */
export class AgentConnection {
  readonly agentId: string;
  readonly protocol: number;
  readonly connectedAt = Date.now();
  lastSeenAt = this.connectedAt;
  /** Liveness: set by a pong, cleared by each ping sweep (rule 11). */
  alive = true;
  #state: ConnectionState = "open";
  readonly #ws: WebSocket;
  readonly #opts: AgentConnectionOptions;
  readonly #log: Logger;
  readonly #pending = new PendingCommands();
  readonly #legacy = new LegacySessions((entry) => this.#write(entry));
  readonly #unsolicited: RateBudget;
  readonly #violations = new SlidingBudget(VIOLATION_BUDGET, VIOLATION_WINDOW_MS);
  #closeError: HubError | undefined;
  #terminateTimer: NodeJS.Timeout | undefined;
  #helloSeen = false;
  /** Legacy traits seen so far; undefined until the first reply was read. */
  #legacyShapes: Set<string> | undefined;
  readonly #handlers: DispatchTable<AgentToHub>;

  constructor(ws: WebSocket, opts: AgentConnectionOptions) {
    this.#ws = ws;
    this.#opts = opts;
    this.agentId = opts.agentId;
    this.protocol = opts.protocol;
    this.#log = opts.log;
    this.#unsolicited = new RateBudget(opts.limits.maxFramesPerSecond);
    this.#handlers = {
      hello: (hello) => {
        if (!this.#unsolicitedAllowed()) return;
        this.#helloSeen = true;
        if (this.#legacyShapes?.delete(NO_HELLO)) this.#reportLegacyShapes();
        opts.onHello(this, hello);
      },
      session_response: (response) => this.#onResponse(response),
    };
    ws.on("message", (data, isBinary) => this.#onMessage(data, isBinary));
    ws.on("pong", () => (this.alive = true));
    ws.on("error", (err) => this.#log.warn({ err: err.message }, "agent socket error"));
    ws.on("close", (code, reason) => this.#onClosed(code, reason.toString()));
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /**
   * The legacy traits this connection showed: `no_hello` (a reply came before any hello) and the reply
   * shapes of `LEGACY_REPLY_SHAPES`, in that order; `[]` for the current shape; null before any reply.
   */
  get legacyShapes(): string[] | null {
    if (this.#legacyShapes === undefined) return null;
    const seen = this.#legacyShapes;
    return [NO_HELLO, ...LEGACY_REPLY_SHAPE_LIST].filter((s) => seen.has(s));
  }

  /** Commands awaiting a reply on this connection. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  #setState(next: ConnectionState, why: string): void {
    this.#log.debug({ from: this.#state, to: next, why }, "connection state");
    this.#state = next;
  }

  /**
   * Sends a command and resolves with the agent's reply. Rejects with a HubError on deadline
   * (after sending `cancel`), on a backed-up socket (busy), or when the connection closes.
   */
  send(request: CommandRequest): Promise<CommandReply> {
    if (this.#state !== "open") {
      return Promise.reject(this.#closeError ?? new ConnectionLostError("agent_disconnected", `agent ${this.agentId} disconnected`));
    }
    if (this.#ws.bufferedAmount > this.#opts.limits.sendHighWaterBytes) {
      this.#opts.metrics.commandsCompleted.inc({ kind: request.kind, outcome: "busy" });
      return Promise.reject(new AgentBusyError(`agent ${this.agentId} is not reading its socket fast enough`));
    }
    if (request.signal?.aborted) {
      this.#opts.metrics.commandsCompleted.inc({ kind: request.kind, outcome: "cancelled" });
      return Promise.reject(CommandCancelledError.fromSignal(request.signal));
    }
    const entry = this.#pending.add(request, (e) => this.#onDeadline(e));
    if (this.protocol >= 2) this.#write(entry);
    else this.#legacy.enqueue(entry);
    if (request.signal !== undefined) this.#cancelOnAbort(entry, request.signal);
    return entry.promise;
  }

  /**
   * The caller gave up (its signal aborted): the command leaves the pending map, the agent is told to
   * stop (`cancel`, as at a deadline), and the caller gets `cancelled`. A legacy agent cannot be told
   * (it has no correlationId); its session stays held until the late reply, as after a timeout.
   */
  #cancelOnAbort(entry: PendingCommand, signal: CancelSignal): void {
    const onAbort = (): void => {
      if (this.#pending.take(entry.request.correlationId) !== entry) return;
      this.#opts.metrics.commandsCompleted.inc({ kind: entry.request.kind, outcome: "cancelled" });
      entry.request.log.info({ sent: entry.sent }, "caller gone; command cancelled");
      if (this.protocol < 2) this.#legacy.abandon(entry);
      else if (this.#state === "open" && entry.sent) {
        this.#ws.send(buildCancel(entry.request.correlationId));
        this.#overHardLimit();
      }
      entry.reject(CommandCancelledError.fromSignal(signal));
    };
    signal.addEventListener("abort", onAbort, { once: true });
    const off = (): void => signal.removeEventListener("abort", onAbort);
    entry.promise.then(off, off);
  }

  /** Pings for liveness; a socket that did not pong since the last ping is terminated instead. */
  sweep(): void {
    if (this.#state === "closed") return;
    if (!this.alive) {
      this.#log.warn("no pong since the last ping; terminating");
      this.#closeError ??= new ConnectionLostError("agent_disconnected", `agent ${this.agentId} stopped answering pings`);
      this.#ws.terminate();
      return;
    }
    this.alive = false;
    this.#ws.ping();
  }

  /** Closes with `code`, failing every pending command with `error` at once. Idempotent. */
  close(code: number, reason: string, error: HubError): void {
    if (this.#state !== "open") return;
    this.#closeError = error;
    this.#setState("closing", reason);
    this.#failEverything(error);
    this.#ws.close(code, reason);
    this.#terminateTimer = setTimeout(() => this.#ws.terminate(), CLOSE_GRACE_MS);
  }

  /**
   * Stops reading the socket (shutdown of a large fleet): the agent's half of the closing handshake and
   * anything else it sends are left unread, so they cost the hub nothing. destroy() cuts it afterwards.
   */
  stopReading(): void {
    if (this.#state !== "closed") this.#ws.pause();
  }

  /** Cuts the socket now, without (the rest of) the closing handshake. Pending commands fail as on any close. */
  destroy(): void {
    if (this.#state !== "closed") this.#ws.terminate();
  }

  #write(entry: PendingCommand): void {
    const { request } = entry;
    entry.sent = true;
    entry.sentAt = performance.now();
    this.#ws.send(buildCommand(this.protocol, request));
    if (this.#overHardLimit()) return;
    this.#opts.metrics.commandsSent.inc({ kind: request.kind });
    // The connection's logger, not the command's: a query's child logger is made only when a line needs it.
    this.#log.debug({ correlationId: request.correlationId, sessionId: request.sessionId, kind: request.kind }, "command sent");
  }

  /**
   * Terminates the socket when more than the hard limit is buffered towards the agent: it stopped reading,
   * and only cutting it bounds what it costs. Checked after every write, `cancel` frames included (they
   * bypass the high-water check, since a cancel must never wait).
   */
  #overHardLimit(): boolean {
    if (this.#ws.bufferedAmount <= this.#opts.limits.sendHardLimitBytes) return false;
    this.#log.warn({ bufferedBytes: this.#ws.bufferedAmount }, "agent stopped reading its socket; terminating");
    this.#closeError ??= new ConnectionLostError("agent_disconnected", `agent ${this.agentId} stopped reading its socket`);
    this.#ws.terminate();
    return true;
  }

  #onDeadline(entry: PendingCommand): void {
    const { request } = entry;
    this.#opts.metrics.commandsCompleted.inc({ kind: request.kind, outcome: "timeout" });
    // The connection's logger names the agent; a scheduled run's own logger names only its schedule.
    this.#log.warn({ correlationId: request.correlationId, sessionId: request.sessionId, kind: request.kind, timeoutMs: request.timeoutMs, sent: entry.sent }, "command timed out");
    if (this.protocol >= 2) {
      if (this.#state === "open") {
        this.#ws.send(buildCancel(request.correlationId));
        this.#overHardLimit();
      }
    } else {
      this.#legacy.abandon(entry);
    }
    entry.reject(new CommandTimeoutError(request.timeoutMs));
  }

  /**
   * Counts a frame the hub did not ask for (anything but a reply to a pending command); past the
   * rate, the frame is dropped as a violation. Replies are bounded by the commands sent, so they are
   * never limited: a busy agent answering thousands of queries a second is not misbehaving.
   */
  #unsolicitedAllowed(): boolean {
    if (this.#unsolicited.allow()) return true;
    this.#violation(`more than ${this.#unsolicited.limit} unsolicited frames in a second`, undefined);
    return false;
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    this.lastSeenAt = Date.now();
    if (isBinary) {
      // Frames are JSON text; a binary one is a violation, but the command it names fails at once rather than at its deadline.
      const named = parseAgentToHub(data.toString());
      return this.#violation("binary frame; frames are JSON text", named.ok ? named.message : named.raw);
    }
    const parsed = parseAgentToHub(data.toString());
    if (!parsed.ok) return this.#violation(parsed.error, parsed.raw);
    try {
      (this.#handlers[parsed.message.type] as (m: AgentToHub) => void)(parsed.message);
    } catch (err) {
      this.#log.error({ err }, "handling an agent frame failed");
    }
  }

  #onResponse(response: SessionResponse): void {
    this.#noteShape(response);
    if (response.correlationId !== undefined) {
      const entry = this.#pending.take(response.correlationId);
      if (entry === undefined) return this.#orphan("unknown", response);
      return this.#complete(entry, response);
    }
    if (this.protocol >= 2) return this.#orphan("missing_correlation_id", response);
    this.#onLegacyResponse(response);
  }

  /**
   * Counts the reply's legacy shapes and reports when this connection shows a trait it had not shown
   * before; that happens a handful of times per connection at most, so the store sees few writes.
   */
  #noteShape(response: SessionResponse): void {
    for (const shape of response.legacy) this.#opts.metrics.legacyReplies.inc({ shape });
    const first = this.#legacyShapes === undefined;
    const seen = (this.#legacyShapes ??= new Set());
    const before = seen.size;
    if (!this.#helloSeen) seen.add(NO_HELLO);
    for (const shape of response.legacy) seen.add(shape);
    if (first || seen.size !== before) this.#reportLegacyShapes();
  }

  #reportLegacyShapes(): void {
    const shapes = this.legacyShapes;
    if (shapes === null) return;
    // Info only for what an operator may act on: an agent still writing a legacy shape.
    if (shapes.length > 0) this.#log.info({ legacyShapes: shapes }, "agent reply shape");
    else this.#log.debug({ legacyShapes: shapes }, "agent reply shape");
    this.#opts.onLegacyShapes(this, shapes);
  }

  #complete(entry: PendingCommand, response: SessionResponse): void {
    const { request } = entry;
    const seconds = (performance.now() - entry.sentAt) / 1000;
    this.#opts.metrics.commandDuration.observe({ kind: request.kind }, seconds);
    this.#opts.metrics.commandsCompleted.inc({ kind: request.kind, outcome: response.ok ? "ok" : response.code === "busy" ? "busy" : "error" });
    const reply: CommandReply = { correlationId: request.correlationId, ok: response.ok };
    if (response.result !== undefined) reply.result = response.result;
    if (response.error !== undefined) reply.error = response.error;
    if (response.code !== undefined) reply.code = response.code;
    if (response.durationMs !== undefined) reply.durationMs = response.durationMs;
    entry.resolve(reply);
  }

  #orphan(reason: string, response: SessionResponse): void {
    if (!this.#unsolicitedAllowed()) return;
    this.#opts.metrics.orphanReplies.inc({ reason });
    this.#log.warn({ correlationId: response.correlationId, sessionId: response.sessionId, reason }, "orphan reply dropped");
  }

  #violation(error: string, raw: unknown): void {
    this.#opts.metrics.frameViolations.inc();
    const ref = commandRef(raw);
    this.#log.warn({ correlationId: ref?.correlationId, error }, "invalid agent frame");
    // A malformed reply that still names a pending command fails that command instead of leaving it to its deadline.
    const entry = ref?.correlationId !== undefined ? this.#pending.take(ref.correlationId) : undefined;
    if (entry !== undefined) {
      this.#opts.metrics.commandsCompleted.inc({ kind: entry.request.kind, outcome: "error" });
      entry.reject(new AgentAnsweredError("bad_response", `agent sent a malformed response: ${error}`));
    }
    if (this.#violations.exceeded()) {
      this.close(CloseCode.POLICY_VIOLATION, "too many protocol violations", new ConnectionLostError("agent_disconnected", `agent ${this.agentId} was disconnected for protocol violations`));
    }
  }

  #onLegacyResponse(response: SessionResponse): void {
    const matched = this.#legacy.answer(
      response.sessionId,
      (active) => {
        const entry = this.#pending.take(active.request.correlationId);
        if (entry !== undefined) this.#complete(entry, response);
      },
      () => this.#orphan("late", response),
    );
    if (!matched) this.#orphan("legacy_unmatched", response);
  }

  #failEverything(error: HubError): void {
    this.#legacy.clear();
    for (const entry of this.#pending.rejectAll(error)) {
      this.#opts.metrics.commandsCompleted.inc({ kind: entry.request.kind, outcome: "disconnected" });
    }
  }

  #onClosed(code: number, reason: string): void {
    clearTimeout(this.#terminateTimer);
    const error = this.#closeError ?? new ConnectionLostError("agent_disconnected", `agent ${this.agentId} disconnected`);
    this.#setState("closed", `socket closed ${code}${reason ? ` ${reason}` : ""}`);
    this.#failEverything(error);
    this.#opts.onClose(this);
  }
}
