import { randomBytes } from "node:crypto";
import { UnauthorizedError } from "../errors.js";
import type { SessionRecord, Store, TokenRecord } from "../store/store.js";
import { newId, newSecret, parseCredential, secretMatches } from "./credentials.js";
import { liveApiToken } from "./tokens.js";

/** A session found by its cookie, with the token it acts for; both live. */
export interface LiveSession {
  session: SessionRecord;
  token: TokenRecord & { scope: NonNullable<TokenRecord["scope"]> };
}

/**
 * Web console sessions: an API token exchanged for a cookie `<sessionId>.<secret>` (only the secret's
 * hash is stored, as for tokens), and a CSRF token that state-changing requests made with the cookie
 * must echo. A session ends at its expiry (never past its token's), when its token is revoked, or on
 * sign-out.
 */
export class Sessions {
  constructor(
    private readonly store: Store,
    private readonly ttlMs: number,
  ) {}

  /**
   * Opens a session for the API token `value`: 401 for anything that is not a live API token (one message
   * for all, as bearer authentication answers).
   */
  async open(value: string, now = Date.now()): Promise<{ cookie: string } & LiveSession> {
    const credential = parseCredential(value);
    const token = credential === undefined ? undefined : await this.store.findToken(credential.id);
    if (credential === undefined || !liveApiToken(token, now) || !secretMatches(credential.secret, token.secretHash)) throw new UnauthorizedError();
    const { secret, secretHash } = newSecret();
    const session: SessionRecord = {
      id: newId("ses"),
      tokenId: token.id,
      secretHash,
      csrfToken: randomBytes(32).toString("base64url"),
      createdAt: now,
      expiresAt: Math.min(now + this.ttlMs, token.expiresAt ?? Number.MAX_SAFE_INTEGER),
    };
    await this.store.createSession(session);
    return { cookie: `${session.id}.${secret}`, session, token };
  }

  /** The live session a cookie names, with its live token; undefined for anything else. */
  async resolve(cookie: string, now = Date.now()): Promise<LiveSession | undefined> {
    const credential = parseCredential(cookie);
    if (credential === undefined) return undefined;
    const session = await this.store.findSession(credential.id);
    if (session === undefined || session.expiresAt <= now || !secretMatches(credential.secret, session.secretHash)) return undefined;
    const token = await this.store.findToken(session.tokenId);
    return liveApiToken(token, now) ? { session, token } : undefined;
  }

  async close(id: string): Promise<void> {
    await this.store.deleteSession(id);
  }
}
