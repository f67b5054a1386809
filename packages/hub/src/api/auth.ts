import type { IncomingMessage } from "node:http";
import { CSRF_HEADER, SESSION_COOKIE } from "@uplink/protocol";
import { ForbiddenError, HubError, UnauthorizedError } from "../errors.js";
import { bearer, cookieValue, parseCredential, sameSecret, secretMatches } from "../security/credentials.js";
import type { LiveSession, Sessions } from "../security/sessions.js";
import { liveApiToken } from "../security/tokens.js";
import { SCOPES, type Scope, type Store } from "../store/store.js";

/** Who made a request: the API token that authenticated it, directly or through a console session. */
export interface Principal {
  tokenId: string;
  name: string;
  scope: Scope;
  /** Set when the request came with the session cookie instead of a bearer token. */
  session?: { id: string; csrfToken: string };
}

/** True when `held` includes `needed` (read < query < admin). */
export function scopeAllows(held: Scope, needed: Scope): boolean {
  return SCOPES.indexOf(held) >= SCOPES.indexOf(needed);
}

/** Methods that change nothing, so a request made with the session cookie needs no CSRF token. */
const SAFE_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD"]);

/** How long a verified token (or session) is trusted without asking the store again. */
export const TOKEN_CACHE_TTL_MS = 5_000;
const TOKEN_CACHE_MAX = 10_000;

/** The session cookie of a request, or undefined. */
export function sessionCookie(req: IncomingMessage): string | undefined {
  return cookieValue(req.headers.cookie, SESSION_COOKIE);
}

/**
 * Throws 403 `csrf_failed` unless the request changes nothing or carries the session's CSRF token.
 * SameSite=Strict keeps the cookie off cross-site requests already; this is the second lock.
 */
export function checkCsrf(req: IncomingMessage, csrfToken: string): void {
  if (SAFE_METHODS.has(req.method ?? "GET")) return;
  const sent = req.headers[CSRF_HEADER];
  if (typeof sent !== "string" || !sameSecret(sent, csrfToken)) {
    throw HubError.of("csrf_failed", "a request made with the session cookie must send the session's X-CSRF-Token");
  }
}

/**
 * Authenticates API requests by bearer token or, without an Authorization header, by the web console's
 * session cookie (a bearer header wins when both are sent): 401 for a missing, unknown, expired or revoked
 * token or session (one message for all, so nothing is learnt by probing), 403 `csrf_failed` for a
 * state-changing request made with the cookie but without its CSRF token, 403 when the scope is too small.
 * A session acts with its token's name and scope.
 *
 * A verified token or session is remembered for {@link TOKEN_CACHE_TTL_MS} (never past its own expiry),
 * which takes a store read and a hash off every request. Revoking through this hub forgets it at once; a
 * revocation made elsewhere (the `uplink-hub token revoke` command, another replica) applies within the TTL.
 */
export class Authenticator {
  readonly #cache = new Map<string, { principal: Principal; until: number }>();

  constructor(
    private readonly store: Store,
    private readonly sessions: Sessions,
  ) {}

  async authenticate(req: IncomingMessage, needed: Scope): Promise<Principal> {
    const header = req.headers.authorization;
    const principal = header !== undefined ? await this.#byBearer(header) : await this.#bySession(req);
    if (principal.session !== undefined) checkCsrf(req, principal.session.csrfToken);
    if (!scopeAllows(principal.scope, needed)) throw new ForbiddenError(`this call needs scope ${needed}; the token has ${principal.scope}`);
    return principal;
  }

  /** Forgets a revoked token, and the sessions made with it, at once. */
  forget(tokenId: string): void {
    for (const [key, entry] of this.#cache) if (entry.principal.tokenId === tokenId) this.#cache.delete(key);
  }

  /** Forgets an ended session at once. */
  forgetSession(sessionId: string): void {
    for (const [key, entry] of this.#cache) if (entry.principal.session?.id === sessionId) this.#cache.delete(key);
  }

  async #byBearer(header: string): Promise<Principal> {
    const value = bearer(header);
    if (value === undefined) throw new UnauthorizedError();
    const key = `bearer ${value}`;
    const now = Date.now();
    const cached = this.#cached(key, now);
    if (cached !== undefined) return cached;
    const credential = parseCredential(value);
    if (credential === undefined) throw new UnauthorizedError();
    const token = await this.store.findToken(credential.id);
    if (!liveApiToken(token, now) || !secretMatches(credential.secret, token.secretHash)) throw new UnauthorizedError();
    return this.#remember(key, { tokenId: token.id, name: token.name, scope: token.scope }, Math.min(now + TOKEN_CACHE_TTL_MS, token.expiresAt ?? Number.MAX_SAFE_INTEGER));
  }

  async #bySession(req: IncomingMessage): Promise<Principal> {
    const cookie = sessionCookie(req);
    if (cookie === undefined) throw new UnauthorizedError();
    const key = `session ${cookie}`;
    const now = Date.now();
    const cached = this.#cached(key, now);
    if (cached !== undefined) return cached;
    const live: LiveSession | undefined = await this.sessions.resolve(cookie, now);
    if (live === undefined) throw new UnauthorizedError();
    const { session, token } = live;
    const principal: Principal = { tokenId: token.id, name: token.name, scope: token.scope, session: { id: session.id, csrfToken: session.csrfToken } };
    return this.#remember(key, principal, Math.min(now + TOKEN_CACHE_TTL_MS, session.expiresAt, token.expiresAt ?? Number.MAX_SAFE_INTEGER));
  }

  #remember(key: string, principal: Principal, until: number): Principal {
    if (this.#cache.size >= TOKEN_CACHE_MAX) this.#cache.clear();
    this.#cache.set(key, { principal, until });
    return principal;
  }

  #cached(key: string, now: number): Principal | undefined {
    const entry = this.#cache.get(key);
    if (entry === undefined) return undefined;
    if (entry.until > now) return entry.principal;
    this.#cache.delete(key);
    return undefined;
  }
}
