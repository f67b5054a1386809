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

/**
 * Authenticates an API request's bearer token and checks its scope: 401 for a missing, unknown,
 * expired or revoked token (one message for all, so nothing is learnt by probing), 403 when the scope
 * is too small.
 */
export async function authenticate(req: IncomingMessage, store: Store, needed: Scope): Promise<Principal> {
  const value = bearer(req.headers.authorization);
  const credential = value === undefined ? undefined : parseCredential(value);
  if (credential === undefined) throw new UnauthorizedError();
  const token = await store.findToken(credential.id);
  if (token === undefined || token.kind !== "api" || token.scope === null || !secretMatches(credential.secret, token.secretHash) || !isLive(token, Date.now())) {
    throw new UnauthorizedError();
  }
  if (!scopeAllows(token.scope, needed)) throw new ForbiddenError(`this call needs scope ${needed}; the token has ${token.scope}`);
  return { tokenId: token.id, name: token.name, scope: token.scope };
}
