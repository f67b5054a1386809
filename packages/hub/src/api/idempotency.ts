import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import { checkFrameShape, IDEMPOTENCY_KEY_HEADER, idempotencyKeyProblem } from "@uplink/protocol";
import { BadRequestError, HubError, IdempotencyInProgressError, IdempotencyMismatchError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { HubMetrics } from "../metrics.js";
import { bearer, parseCredential, type Credential } from "../security/credentials.js";
import type { Store } from "../store/store.js";
import { sessionCookie } from "./auth.js";
import { readBody, sendError } from "./http.js";
import type { Route, RouteContext } from "./route.js";
import { MAX_BODY_BYTES } from "./services.js";
import { captureResponse, isFinalResponse, openResponse, requestFingerprint, sealResponse, sendStored } from "./stored-response.js";

/** How long a repeat waits for the first request with its key when the route names no deadline of its own. */
export const DEFAULT_IDEMPOTENCY_WAIT_MS = 10_000;
/** A running claim lapses this long after the request's own deadline (its runner is presumed dead). */
const CLAIM_MARGIN_MS = 30_000;
/** How often a waiting repeat looks at the store (a request finishing on this process wakes it at once). */
const POLL_MS = 100;
/** How often expired keys are pruned, off the request path. */
const PRUNE_INTERVAL_MS = 10 * 60_000;
/** Response header of a replay. */
const REPLAYED = { "Idempotent-Replayed": "true" };

/** How a route tunes its `Idempotency-Key` handling (see {@link Route.idempotency}). */
export interface IdempotencyOptions {
  /**
   * Who presents the key, and the secret its stored response is sealed with. Default: the bearer API
   * token, or the session cookie. Undefined: the request runs as if it had no key (the handler refuses it anyway).
   */
  credential?(ctx: RouteContext, body: unknown): Credential | undefined;
  /** The request's own deadline: how long a repeat waits for the first. Default {@link DEFAULT_IDEMPOTENCY_WAIT_MS}. */
  waitMs?(body: unknown): number;
}

export interface IdempotencyDeps {
  store: Store;
  metrics: HubMetrics;
  log: Logger;
  hubId: string;
  /** How long a final response is kept for replay. */
  retentionMs: number;
  /** The embedded store belongs to this process alone, so claims found at start-up are a dead process's. */
  embedded: boolean;
}

/**
 * `Idempotency-Key` on every POST (IETF httpapi idempotency-key draft; Stripe's API): the first request
 * with a key claims it in the store, runs, and stores its response, sealed, with the requester and a
 * fingerprint of the request; a repeat gets that response back with `Idempotent-Replayed: true` and runs
 * nothing. Keys live in the store, so this holds across restarts and across replicas.
 *
 *   request with key K ──▶ claim K ──▶ claimed: run the handler (response held back)
 *                            │           ├─ final answer: store it sealed, then answer it
 *                            │           └─ refused / transient: release K, answer it (a retry runs again)
 *                            ├─ held by another token, or another method/path/body: 422 idempotency_mismatch
 *                            ├─ done: answer the stored response + Idempotent-Replayed: true
 *                            └─ running: wait (local wake-up, else poll the store) within this request's
 *                               deadline, then claim again; past the deadline: 409 idempotency_in_progress
 *
 * Every POST route gets this by {@link Idempotency.wrap}; a route tunes it with `Route.idempotency`.
 */
export class Idempotency {
  readonly #deps: IdempotencyDeps;
  /** Requests of this process waiting on a key, woken when a request here completes or releases it. */
  readonly #waiters = new Map<string, Set<() => void>>();
  #pruneTimer: NodeJS.Timeout | undefined;

  constructor(deps: IdempotencyDeps) {
    this.#deps = deps;
  }

  /** Starts pruning expired keys; with the embedded store, first drops claims a previous process left running. */
  async start(): Promise<void> {
    if (this.#deps.embedded) await this.#deps.store.dropIdempotencyClaims();
    this.#pruneTimer ??= setInterval(() => void this.#prune(), PRUNE_INTERVAL_MS);
    this.#pruneTimer.unref();
    void this.#prune();
  }

  stop(): void {
    clearInterval(this.#pruneTimer);
    this.#pruneTimer = undefined;
  }

  /** The route with `Idempotency-Key` handling when it is a POST that has not opted out; else the route itself. */
  wrap(route: Route): Route {
    if (route.method !== "POST" || route.idempotency === false) return route;
    const options = route.idempotency ?? {};
    return { ...route, handle: (ctx) => this.#handle(route, options, ctx) };
  }

  async #handle(route: Route, options: IdempotencyOptions, ctx: RouteContext): Promise<void> {
    const header = ctx.req.headers[IDEMPOTENCY_KEY_HEADER];
    if (header === undefined) return route.handle(ctx);
    const key = Array.isArray(header) ? header.join(", ") : header;
    const problem = idempotencyKeyProblem(key);
    if (problem !== undefined) throw new BadRequestError(problem);
    const raw = await readBody(ctx.req, MAX_BODY_BYTES);
    const body = parseJson(raw);
    const credential = options.credential ? options.credential(ctx, body) : requestCredential(ctx);
    if (credential === undefined) return route.handle(ctx);
    const path = (ctx.req.url ?? "/").split("?")[0]!;
    const fingerprint = requestFingerprint(ctx.req.method ?? "POST", path, raw, body);
    const waitMs = Math.max(0, options.waitMs?.(body) ?? DEFAULT_IDEMPOTENCY_WAIT_MS);
    const deadline = Date.now() + waitMs;
    const owner = `${this.#deps.hubId}:${randomUUID()}`;
    const log = ctx.log.child({ idempotencyKey: key });
    let waited = false;
    for (;;) {
      const now = Date.now();
      const claim = { key, requester: credential.id, fingerprint, owner, createdAt: now, expiresAt: now + waitMs + CLAIM_MARGIN_MS };
      const held = await this.#deps.store.claimIdempotencyKey(claim, now);
      if (held === undefined) return this.#run(route, ctx, key, owner, credential, log);
      if (held.requester !== credential.id) throw this.#mismatch(log, key, "requester", "by another token");
      if (held.fingerprint !== fingerprint) throw this.#mismatch(log, key, "body", "with another method, path or body");
      if (held.state === "done") {
        const stored = held.response === null ? undefined : openResponse(held.response, credential.secret, key);
        // Same token id and request, yet the seal does not open: the key cannot be honoured for this caller.
        if (stored === undefined) throw this.#mismatch(log, key, "requester", "by another credential");
        this.#deps.metrics.idempotentReplays.inc();
        log.info({ status: stored.status }, "answered a repeated request with its stored response");
        sendStored(ctx.res, stored, REPLAYED);
        return;
      }
      if (Date.now() >= deadline) throw new IdempotencyInProgressError(key);
      if (!waited) log.debug({ holder: held.owner }, "waiting for the request holding this Idempotency-Key");
      waited = true;
      if (!(await this.#wait(key, deadline, ctx.res))) return;
    }
  }

  /** Runs the handler with its response held back, stores the response if final (else frees the key), then answers. */
  async #run(route: Route, ctx: RouteContext, key: string, owner: string, credential: Credential, log: Logger): Promise<void> {
    const capture = captureResponse(ctx.res);
    let failure: { err: unknown } | undefined;
    try {
      await route.handle(ctx);
    } catch (err) {
      if (err instanceof HubError) sendError(ctx.res, err);
      else failure = { err };
    }
    const response = capture.captured();
    capture.release();
    const { store } = this.#deps;
    try {
      if (failure === undefined && response !== undefined && isFinalResponse(response)) {
        const sealed = sealResponse(response, credential.secret, key);
        if (!(await store.completeIdempotencyKey(key, owner, sealed, Date.now() + this.#deps.retentionMs))) {
          log.warn("the idempotency claim lapsed before the request finished; its response was not stored");
        }
      } else {
        await store.releaseIdempotencyKey(key, owner);
      }
    } catch (err) {
      // The work is done and the caller gets its answer; a repeat runs again once the claim lapses.
      log.warn({ err: (err as Error).message }, "could not record the response of an idempotent request");
    } finally {
      this.#wake(key);
    }
    if (failure !== undefined) throw failure.err;
    if (response !== undefined) sendStored(ctx.res, response);
  }

  #mismatch(log: Logger, key: string, reason: "body" | "requester", why: string): IdempotencyMismatchError {
    this.#deps.metrics.idempotencyMismatches.inc({ reason });
    log.info({ reason }, "refused a reused Idempotency-Key");
    return new IdempotencyMismatchError(key, why);
  }

  /** Waits one poll interval (or until woken); false when the client went away meanwhile. */
  #wait(key: string, deadline: number, res: ServerResponse): Promise<boolean> {
    if (res.destroyed || res.writableEnded) return Promise.resolve(false);
    return new Promise((resolve) => {
      let waiters = this.#waiters.get(key);
      if (waiters === undefined) this.#waiters.set(key, (waiters = new Set()));
      const set = waiters;
      const done = (value: boolean): void => {
        clearTimeout(timer);
        set.delete(wake);
        if (set.size === 0 && this.#waiters.get(key) === set) this.#waiters.delete(key);
        res.off("close", gone);
        resolve(value);
      };
      const wake = (): void => done(true);
      const gone = (): void => done(false);
      const timer = setTimeout(wake, Math.max(0, Math.min(POLL_MS, deadline - Date.now())));
      set.add(wake);
      res.once("close", gone);
    });
  }

  #wake(key: string): void {
    for (const wake of [...(this.#waiters.get(key) ?? [])]) wake();
  }

  async #prune(): Promise<void> {
    try {
      const pruned = await this.#deps.store.pruneIdempotencyKeys(Date.now());
      if (pruned > 0) this.#deps.log.debug({ pruned }, "pruned expired idempotency keys");
    } catch (err) {
      this.#deps.log.warn({ err: (err as Error).message }, "pruning expired idempotency keys failed; retrying at the next interval");
    }
  }
}

/**
 * The credential that authenticated the request (the router has verified it already): the bearer API
 * token, or without one the console's session cookie (a key is then the session's own).
 */
function requestCredential(ctx: RouteContext): Credential | undefined {
  const header = ctx.req.headers.authorization;
  const value = header === undefined ? sessionCookie(ctx.req) : bearer(header);
  return value === undefined ? undefined : parseCredential(value);
}

/** The body as JSON (an empty body is `{}`, as `readJson` reads it); undefined when it is not JSON. */
function parseJson(raw: Buffer): unknown {
  if (raw.length === 0) return {};
  const text = raw.toString("utf8");
  // A body whose shape would stall JSON.parse is left unparsed here; the route's readJson refuses it (400).
  if (checkFrameShape(text) !== undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
