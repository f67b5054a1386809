import type { Scope, Store, TokenKind, TokenRecord } from "../store/store.js";
import { newId, newSecret } from "./credentials.js";

export interface NewTokenInput {
  kind: TokenKind;
  /** Required for api tokens, absent for enrollment tokens. */
  scope: Scope | null;
  name: string;
  ttlSeconds?: number | undefined;
  /** Enrollment tokens: the labels of every agent enrolled with it. */
  labels?: Record<string, string> | undefined;
  /** Enrollment tokens: how many enrollments it allows (unlimited when absent). */
  maxUses?: number | undefined;
}

/** A token as listed: everything but the secret's hash. */
export type PublicToken = Omit<TokenRecord, "secretHash">;

/**
 * Creates a token and returns it with its secret as `<id>.<secret>`. The secret is shown this once:
 * only its hash is stored.
 */
export async function createToken(store: Store, input: NewTokenInput, now = Date.now()): Promise<{ token: string; record: PublicToken }> {
  const id = newId("tok");
  const { secret, secretHash } = newSecret();
  const record: TokenRecord = {
    id,
    kind: input.kind,
    scope: input.kind === "api" ? input.scope : null,
    name: input.name,
    secretHash,
    createdAt: now,
    expiresAt: input.ttlSeconds === undefined ? null : now + input.ttlSeconds * 1000,
    revokedAt: null,
    labels: input.kind === "enroll" ? (input.labels ?? null) : null,
    maxUses: input.kind === "enroll" ? (input.maxUses ?? null) : null,
    uses: 0,
  };
  await store.createToken(record);
  return { token: `${id}.${secret}`, record: publicToken(record) };
}

export function publicToken(record: TokenRecord): PublicToken {
  const { secretHash: _hidden, ...rest } = record;
  return rest;
}

/** A token that can be used now: not revoked, not expired. */
export function isLive(token: TokenRecord, now: number): boolean {
  return token.revokedAt === null && (token.expiresAt === null || token.expiresAt > now);
}

/** An API token (with a scope) that can be used now: what a bearer header or a console session needs. */
export function liveApiToken(token: TokenRecord | undefined, now: number): token is TokenRecord & { scope: NonNullable<TokenRecord["scope"]> } {
  return token !== undefined && token.kind === "api" && token.scope !== null && isLive(token, now);
}
