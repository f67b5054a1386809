import { ENROLL_PATH, EnrollRequest, type EnrollResponse } from "@uplink/protocol";
import { RateLimitedError, UnauthorizedError } from "../../errors.js";
import { newId, newSecret, parseCredential, secretMatches, type Credential } from "../../security/credentials.js";
import { isLive } from "../auth.js";
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
        if (credential === undefined || token === undefined || token.kind !== "enroll" || !secretMatches(credential.secret, token.secretHash) || !isLive(token, Date.now())) {
          throw new UnauthorizedError("invalid, expired or revoked enrollment token");
        }
        const agentId = newId("agt");
        const { secret, secretHash } = newSecret();
        await s.store.createAgent({ id: agentId, secretHash, hostname: body.hostname, labels: body.labels, enrolledAt: Date.now() });
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
