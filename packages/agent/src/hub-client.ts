// Longer than most files here: it is one state machine (the diagram below) over one socket, and its
// transitions read the same private state; the backoff and TLS diagnosis it uses stand alone (backoff.ts, tls-trust.ts).
import { arch, platform } from "node:process";
import type { IncomingMessage } from "node:http";
import {
  AGENT_PATH,
  CAPABILITY_CORRELATION_ID,
  CloseCode,
  DEFAULT_AGENT_PING_TIMEOUT_MS,
  DEFAULT_MAX_PAYLOAD_BYTES,
  PROTOCOL_HEADER,
  PROTOCOL_VERSION,
  RECONNECT_BASE_MS,
  RECONNECT_CAP_MS,
  RECONNECT_RESTART_CAP_MS,
  RECONNECT_RESTART_WINDOW_MS,
  RECONNECT_STABLE_MS,
  type Hello,
  type SessionResponseFrame,
  type Welcome,
} from "@uplink/protocol";
import type { Logger } from "pino";
import { WebSocket, type RawData } from "ws";
import { Backoff } from "./backoff.js";
import { CredentialRejectedError } from "./errors.js";
import { describeTlsFailure } from "./tls-trust.js";

/**
 * The life of the hub connection:
 *
 *   idle ──start()──▶ connecting ──101 + open──▶ open
 *                      ▲      │ refused / failed    │ closed, 4409, 1001/1012, ping silence
 *                      │      ▼                     │
 *                      └── backoff ◀────────────────┘
 *
 * A close with 1001 (or 1012, from a proxy) means the hub is restarting: the backoff starts over and grows to a low cap,
 * and a 503 counts no attempt (RECONNECT_RESTART_*), until a connection opens or the restart window passes.
 *
 *   any state ──close(), 401/403, close 4401/4403──▶ stopped (final)
 */
export type HubClientState = "idle" | "connecting" | "open" | "backoff" | "stopped";

/** Frames the agent writes. */
export type AgentFrame = Hello | SessionResponseFrame;

/** How a {@link HubClient} reaches its hub and whom it tells about frames. */
export interface HubClientOptions {
  /** The hub's base URL, `http(s)://host:port`; the socket goes to `ws(s)://host:port` + AGENT_PATH. */
  hub: string;
  /** The complete credential `<agentId>.<secret>`. */
  agentKey: string;
  /** What `hello` announces besides protocol, platform, arch and capabilities. */
  identity: { agentVersion: string; hostname: string; labels: Record<string, string> };
  log: Logger;
  /** Every text frame from the hub, undecoded. Must not throw; a throw is logged and swallowed. */
  onFrame: (text: string) => void;
  /** Called when an open connection ends (not when close() ends it). */
  onDisconnect?: () => void;
  /** Silence after which the socket is presumed dead (rule 11). Default 75 s. */
  pingTimeoutMs?: number;
  reconnectBaseMs?: number;
  reconnectCapMs?: number;
  /** An open connection this old resets the backoff. Default 30 s. */
  stableMs?: number;
  /** After the hub announced a restart (close 1001 or 1012): the backoff's cap, and how long it applies. */
  restartCapMs?: number;
  restartWindowMs?: number;
  maxPayload?: number;
  /** CAs to verify a `wss://` hub against (`loadTrust`); undefined keeps Node's defaults. */
  ca?: string[] | undefined;
  /** Random source of the backoff jitter, in [0, 1). */
  random?: () => number;
}

/** How long close() waits for the hub's closing handshake before cutting the socket. */
const CLOSE_GRACE_MS = 2_000;

/** The WebSocket URL of the agent endpoint of a hub given by its http(s) base URL. */
export function agentUrl(hub: string): string {
  const url = new URL(AGENT_PATH, hub);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.toString();
}

/** `Retry-After` in milliseconds, from delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1_000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * The agent's one WebSocket to its hub: connects, says `hello`, keeps the connection alive and comes back
 * after every loss with jittered exponential backoff, until close() or a rejected credential stops it.
 */
export class HubClient {
  readonly #options: HubClientOptions;
  readonly #log: Logger;
  readonly #url: string;
  readonly #backoff: Backoff;
  readonly #pingTimeoutMs: number;
  readonly #stableMs: number;
  readonly #stopped: Promise<void>;
  #resolveStopped!: () => void;
  #rejectStopped!: (err: CredentialRejectedError) => void;
  #state: HubClientState = "idle";
  #ws: WebSocket | undefined;
  #openedAt: number | undefined;
  #refusal: { status: number; retryAfterMs: number | undefined } | undefined;
  #lastError: string | undefined;
  /** Set when the last attempt failed to verify the hub's certificate: the operator's one-line explanation. */
  #tlsFailure: string | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  /** Until when (epoch ms) reconnect waits follow the restart schedule: the hub closed with 1001 or 1012. */
  #restartUntil: number | undefined;
  #pingTimer: NodeJS.Timeout | undefined;
  #welcome: Welcome | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: HubClientOptions) {
    this.#options = options;
    this.#log = options.log.child({ component: "hub-client" });
    this.#url = agentUrl(options.hub);
    this.#backoff = new Backoff(
      options.reconnectBaseMs ?? RECONNECT_BASE_MS,
      options.reconnectCapMs ?? RECONNECT_CAP_MS,
      options.random,
    );
    this.#pingTimeoutMs = options.pingTimeoutMs ?? DEFAULT_AGENT_PING_TIMEOUT_MS;
    this.#stableMs = options.stableMs ?? RECONNECT_STABLE_MS;
    this.#stopped = new Promise<void>((resolve, reject) => {
      this.#resolveStopped = resolve;
      this.#rejectStopped = reject;
    });
    // Marked handled here: a caller that never asks for stopped() must not crash the process on a rejection.
    this.#stopped.catch(() => undefined);
  }

  /** The current lifecycle state. */
  get state(): HubClientState {
    return this.#state;
  }

  /** The last `welcome` received (hubId, agentId, limits), if any. */
  get welcome(): Welcome | undefined {
    return this.#welcome;
  }

  /** Starts connecting. Only the first call does anything. */
  start(): void {
    if (this.#state === "idle") this.#connect();
  }

  /**
   * Settles when the client stops for good: resolves after close(), rejects with
   * {@link CredentialRejectedError} when the hub refuses (401/4401) or has revoked (403/4403) the key.
   */
  stopped(): Promise<void> {
    return this.#stopped;
  }

  /** Records the hub's `welcome` (the dispatcher has already applied its maxInflight). */
  noteWelcome(welcome: Welcome): void {
    this.#welcome = welcome;
    this.#log.info(
      { hubId: welcome.hubId, maxInflight: welcome.maxInflight, protocol: welcome.protocol },
      "welcomed by the hub",
    );
  }

  /** Writes one frame. Returns false, sending nothing, when no connection is open. Never throws. */
  send(frame: AgentFrame): boolean {
    const ws = this.#ws;
    if (this.#state !== "open" || ws === undefined || ws.readyState !== WebSocket.OPEN) return false;
    let text: string;
    try {
      text = JSON.stringify(frame);
    } catch (err) {
      this.#log.error({ err, type: frame.type }, "cannot serialise a frame");
      return false;
    }
    ws.send(text, (err) => {
      if (err) this.#log.warn({ err: err.message, type: frame.type }, "failed to write a frame");
    });
    return true;
  }

  /**
   * Stops for good: clears every timer and closes the socket (1000), cutting it if the hub does not finish
   * the closing handshake within {@link CLOSE_GRACE_MS}. Idempotent: every call returns the same promise.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    const ws = this.#ws;
    this.#stop();
    if (ws !== undefined && ws.readyState !== WebSocket.CLOSED) await closeSocket(ws);
  }

  #setState(next: HubClientState, fields: Record<string, unknown> = {}): void {
    const from = this.#state;
    this.#state = next;
    this.#log.info({ from, to: next, ...fields }, `hub connection ${next}`);
  }

  /**
   * The handshake:
   *
   *   agent                                   hub
   *     │ GET AGENT_PATH, Upgrade: websocket   │
   *     │ Authorization: Bearer <agentKey>     │
   *     │ Uplink-Protocol: 2            ─────▶ │  401/403 → stop · 503 + Retry-After → wait · else backoff
   *     │ ◀───────────────────── 101 Switching │
   *     │ hello ─────────────────────────────▶ │
   *     │ ◀──────────────────────────── welcome│
   *     │ ◀──── ping (every 30 s), pong ─────▶ │
   */
  #connect(): void {
    this.#refusal = undefined;
    this.#lastError = undefined;
    this.#tlsFailure = undefined;
    this.#openedAt = undefined;
    this.#setState("connecting", { url: this.#url, attempt: this.#backoff.attempt });
    const ws = new WebSocket(this.#url, {
      headers: { authorization: `Bearer ${this.#options.agentKey}`, [PROTOCOL_HEADER]: String(PROTOCOL_VERSION) },
      maxPayload: this.#options.maxPayload ?? DEFAULT_MAX_PAYLOAD_BYTES,
      handshakeTimeout: this.#pingTimeoutMs,
      ...(this.#options.ca !== undefined ? { ca: this.#options.ca } : {}),
    });
    this.#ws = ws;
    ws.on("open", () => this.#onOpen(ws));
    ws.on("ping", () => this.#armWatchdog(ws));
    ws.on("message", (data: RawData) => this.#onMessage(data));
    ws.on("unexpected-response", (_req, res: IncomingMessage) => this.#onRefused(ws, res));
    ws.on("error", (err) => {
      this.#lastError = err.message;
      this.#tlsFailure = describeTlsFailure(this.#options.hub, err);
    });
    ws.on("close", (code: number, reason: Buffer) => this.#onClose(ws, code, reason.toString()));
  }

  #onOpen(ws: WebSocket): void {
    if (this.#ws !== ws || this.#state !== "connecting") return;
    this.#openedAt = Date.now();
    this.#restartUntil = undefined;
    this.#setState("open");
    const { agentVersion, hostname, labels } = this.#options.identity;
    this.send({
      type: "hello",
      protocol: PROTOCOL_VERSION,
      agentVersion,
      hostname,
      platform,
      arch,
      labels,
      capabilities: [CAPABILITY_CORRELATION_ID],
    });
    this.#armWatchdog(ws);
  }

  #onMessage(data: RawData): void {
    const text = Buffer.isBuffer(data)
      ? data.toString("utf8")
      : Array.isArray(data)
        ? Buffer.concat(data).toString("utf8")
        : Buffer.from(data).toString("utf8");
    try {
      this.#options.onFrame(text);
    } catch (err) {
      this.#log.error({ err }, "frame handler threw");
    }
  }

  #onRefused(ws: WebSocket, res: IncomingMessage): void {
    const header = res.headers["retry-after"];
    this.#refusal = { status: res.statusCode ?? 0, retryAfterMs: parseRetryAfter(Array.isArray(header) ? header[0] : header) };
    res.resume();
    // With an `unexpected-response` listener ws leaves the handshake pending; terminate() aborts it and emits close.
    ws.terminate();
  }

  /** Rule 11: a connection that heard no ping for pingTimeoutMs is presumed dead and cut. */
  #armWatchdog(ws: WebSocket): void {
    if (this.#ws !== ws) return;
    if (this.#pingTimer !== undefined) {
      this.#pingTimer.refresh();
      return;
    }
    this.#pingTimer = setTimeout(() => {
      this.#log.warn({ pingTimeoutMs: this.#pingTimeoutMs }, "no ping from the hub; dropping the connection");
      ws.terminate();
    }, this.#pingTimeoutMs);
  }

  #onClose(ws: WebSocket, code: number, reason: string): void {
    if (this.#ws !== ws) return;
    this.#ws = undefined;
    clearTimeout(this.#pingTimer);
    this.#pingTimer = undefined;
    if (this.#state === "stopped") return;

    const openedAt = this.#openedAt;
    if (openedAt !== undefined) this.#options.onDisconnect?.();
    const refusal = this.#refusal;
    const rejected = credentialRejection(refusal?.status, code);
    if (rejected !== undefined) {
      this.#log.error({ status: refusal?.status, code }, rejected.message);
      this.#stop(rejected);
      return;
    }
    if (openedAt !== undefined && Date.now() - openedAt >= this.#stableMs) this.#backoff.reset();
    if (openedAt !== undefined && (code === CloseCode.SERVICE_RESTART || code === CloseCode.GOING_AWAY)) {
      this.#backoff.reset();
      this.#restartUntil = Date.now() + (this.#options.restartWindowMs ?? RECONNECT_RESTART_WINDOW_MS);
    }
    const restarting = this.#restartUntil !== undefined && Date.now() < this.#restartUntil;
    // While the hub restarts the backoff grows to a low cap only, and a 503 is the new hub pacing its
    // handshakes: its Retry-After is the wait, and no failed attempt.
    const jittered = !restarting
      ? this.#backoff.next()
      : refusal?.status === 503
        ? this.#backoff.first()
        : this.#backoff.next(this.#options.restartCapMs ?? RECONNECT_RESTART_CAP_MS);
    const delayMs = Math.max(jittered, refusal?.retryAfterMs ?? 0);
    const fields = {
      ...(refusal !== undefined ? { status: refusal.status, retryAfterMs: refusal.retryAfterMs } : { code, reason, error: this.#lastError }),
      ...(restarting ? { restarting } : {}),
    };
    if (code === CloseCode.REPLACED) this.#log.warn(fields, "replaced by a newer connection of this agent");
    // A certificate the agent cannot verify needs an operator: say so at warn on every attempt, and keep trying.
    if (this.#tlsFailure !== undefined) this.#log.warn({ url: this.#url, attempt: this.#backoff.attempt, delayMs }, this.#tlsFailure);
    this.#setState("backoff", { ...fields, delayMs });
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      this.#connect();
    }, delayMs);
  }

  #stop(error?: CredentialRejectedError): void {
    if (this.#state === "stopped") return;
    clearTimeout(this.#reconnectTimer);
    clearTimeout(this.#pingTimer);
    this.#reconnectTimer = undefined;
    this.#pingTimer = undefined;
    this.#setState("stopped", error !== undefined ? { reason: error.message } : {});
    if (error !== undefined) this.#rejectStopped(error);
    else this.#resolveStopped();
  }
}

/** The error that stops the agent for an HTTP refusal status or close code, or undefined when it may retry. */
function credentialRejection(status: number | undefined, closeCode: number): CredentialRejectedError | undefined {
  if (status === 401 || closeCode === CloseCode.UNAUTHORIZED) {
    const seen = status === 401 ? "401" : `close ${closeCode}`;
    return new CredentialRejectedError(401, `the hub rejected this agent's key (${seen}) — re-enroll`);
  }
  if (status === 403 || closeCode === CloseCode.REVOKED) {
    const seen = status === 403 ? "403" : `close ${closeCode}`;
    return new CredentialRejectedError(403, `this agent was revoked (${seen})`);
  }
  return undefined;
}

/** Closes a socket politely and settles once it is fully closed, cutting it after a grace period. */
function closeSocket(ws: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    const grace = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS);
    ws.once("close", () => {
      clearTimeout(grace);
      resolve();
    });
    if (ws.readyState === WebSocket.OPEN) ws.close(1000, "agent stopping");
    else ws.terminate();
  });
}
