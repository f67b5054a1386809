import { ENROLL_PATH, EnrollRequest, type EnrollResponse } from "@uplink/protocol";
import { RateLimitedError, UnauthorizedError } from "../../errors.js";
import { newId, newSecret, parseCredential, secretMatches, type Credential } from "../../security/credentials.js";
import { isLive } from "../../security/tokens.js";
import { readJson, sendJson } from "../http.js";
import type { Route } from "../route.js";
import { MAX_BODY_BYTES, type ApiServices } from "../services.js";

/**
 * `POST /api/v1/enroll`: an enrollment token buys an agent identity. The agent key is the whole
 * credential `<agentId>.<secret>`, shown once; attempts are rate-limited per client address.
 */
export function enrollRoutes(s: ApiServices): Route[] {
  return [
    {
      method: "POST",
      path: ENROLL_PATH,
      scope: null,
      // The requester of an Idempotency-Key here is the enrollment token in the body (there is no bearer).
      idempotency: { credential: (_ctx, body) => enrollCredential(body) },
      async handle({ req, res, log }) {
        const wait = s.enrollLimiter.take(req.socket.remoteAddress ?? "unknown");
        if (wait > 0) throw new RateLimitedError(wait);
        const body = await readJson(req, EnrollRequest, MAX_BODY_BYTES);
        const credential = parseCredential(body.token);
        const token = credential === undefined ? undefined : await s.store.findToken(credential.id);
        if (credential === undefined || token === undefined || token.kind !== "enroll" || !secretMatches(credential.secret, token.secretHash)) {
          throw new UnauthorizedError("invalid enrollment token");
        }
        // The secret matched: its holder may learn why the token no longer works.
        const now = Date.now();
        if (!isLive(token, now)) {
          throw new UnauthorizedError(token.revokedAt !== null ? `enrollment token ${token.id} is revoked` : `enrollment token ${token.id} expired at ${new Date(token.expiresAt!).toISOString()}`);
        }
        // Counted atomically: two hosts racing for a token's last use cannot both get it.
        if (!(await s.store.consumeEnrollToken(token.id, now))) {
          throw new UnauthorizedError(
            token.maxUses === null ? `enrollment token ${token.id} is no longer valid` : `enrollment token ${token.id} is used up (${token.maxUses} of ${token.maxUses} uses)`,
          );
        }
        // Labels belong to the operator. A token with labels pins them: the host's own (the body's) are
        // only recorded as reported. A token without labels takes the body's: whoever enrolls holds a
        // token the operator gave out, and typed them (`uplink-agent enroll --label`).
        const pinned = token.labels !== null;
        const labels = pinned ? token.labels! : body.labels;
        const reportedLabels = pinned ? body.labels : {};
        const agentId = newId("agt");
        const { secret, secretHash } = newSecret();
        await s.store.createAgent({ id: agentId, secretHash, hostname: body.hostname, labels, reportedLabels, enrolledAt: now });
        log.info({ agentId, hostname: body.hostname, enrollToken: token.id }, "agent enrolled");
        const answer: EnrollResponse = { agentId, agentKey: `${agentId}.${secret}` };
        sendJson(res, 201, answer);
      },
    },
  ];
}

/** The enrollment token named by a (not yet validated) enrollment body. */
function enrollCredential(body: unknown): Credential | undefined {
  const token = typeof body === "object" && body !== null ? (body as { token?: unknown }).token : undefined;
  return typeof token === "string" ? parseCredential(token) : undefined;
}
