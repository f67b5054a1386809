import type { IncomingMessage } from "node:http";
import { ForbiddenError, UnauthorizedError } from "../errors.js";
import { bearer, parseCredential, secretMatches } from "../security/credentials.js";
import { SCOPES, type Scope, type Store, type TokenRecord } from "../store/store.js";

/** Who made a request: the API token that authenticated it. */
export interface Principal {
  tokenId: string;
  name: string;
  scope: Scope;
}

/** True when `held` includes `needed` (read < query < admin). */
export function scopeAllows(held: Scope, needed: Scope): boolean {
  return SCOPES.indexOf(held) >= SCOPES.indexOf(needed);
}

/** A token that can be used now: not revoked, not expired. */
export function isLive(token: TokenRecord, now: number): boolean {
  return token.revokedAt === null && (token.expiresAt === null || token.expiresAt > now);
}

/** How long a verified token is trusted without asking the store again. */
export const TOKEN_CACHE_TTL_MS = 5_000;
const TOKEN_CACHE_MAX = 10_000;

/**
 * Authenticates API requests by bearer token: 401 for a missing, unknown, expired or revoked token
 * (one message for all, so nothing is learnt by probing), 403 when the scope is too small.
 *
 * A verified token is remembered for {@link TOKEN_CACHE_TTL_MS} (never past its own expiry), which
 * takes a store read and a hash off every request. Revoking through this hub forgets it at once; a
 * revocation made elsewhere (the `uplink-hub token revoke` command, another replica) applies within the TTL.
 */
export class Authenticator {
  readonly #cache = new Map<string, { principal: Principal; until: number }>();

  constructor(private readonly store: Store) {}

  async authenticate(req: IncomingMessage, needed: Scope): Promise<Principal> {
    const value = bearer(req.headers.authorization);
    if (value === undefined) throw new UnauthorizedError();
    const now = Date.now();
    let principal = this.#cached(value, now);
    if (principal === undefined) {
      const credential = parseCredential(value);
      if (credential === undefined) throw new UnauthorizedError();
      const token = await this.store.findToken(credential.id);
      if (token === undefined || token.kind !== "api" || token.scope === null || !secretMatches(credential.secret, token.secretHash) || !isLive(token, now)) {
        throw new UnauthorizedError();
      }
      principal = { tokenId: token.id, name: token.name, scope: token.scope };
      if (this.#cache.size >= TOKEN_CACHE_MAX) this.#cache.clear();
      this.#cache.set(value, { principal, until: Math.min(now + TOKEN_CACHE_TTL_MS, token.expiresAt ?? Number.MAX_SAFE_INTEGER) });
    }
    if (!scopeAllows(principal.scope, needed)) throw new ForbiddenError(`this call needs scope ${needed}; the token has ${principal.scope}`);
    return principal;
  }

  /** Forgets a revoked token at once. */
  forget(tokenId: string): void {
    for (const [key, entry] of this.#cache) if (entry.principal.tokenId === tokenId) this.#cache.delete(key);
  }

  #cached(value: string, now: number): Principal | undefined {
    const entry = this.#cache.get(value);
    if (entry === undefined) return undefined;
    if (entry.until > now) return entry.principal;
    this.#cache.delete(value);
    return undefined;
  }
}
