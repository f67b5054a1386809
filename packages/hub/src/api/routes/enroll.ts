import { Labels } from "@uplink/protocol";
import { z } from "zod";
import { RateLimitedError, UnauthorizedError } from "../../errors.js";
import { newId, newSecret, parseCredential, secretMatches } from "../../security/credentials.js";
import { isLive } from "../auth.js";
import { readJson, sendJson } from "../http.js";
import type { Route } from "../route.js";
import { MAX_BODY_BYTES, type ApiServices } from "../services.js";

const EnrollBody = z.object({
  token: z.string().min(1).max(512),
  hostname: z.string().min(1).max(255),
  labels: Labels.default({}),
});

/**
 * `POST /api/v1/enroll`: an enrollment token buys an agent identity. The agent key is the whole
 * credential `<agentId>.<secret>`, shown once; attempts are rate-limited per client address.
 */
export function enrollRoutes(s: ApiServices): Route[] {
  return [
    {
      method: "POST",
      path: "/api/v1/enroll",
      scope: null,
      async handle({ req, res, log }) {
        const wait = s.enrollLimiter.take(req.socket.remoteAddress ?? "unknown");
        if (wait > 0) throw new RateLimitedError(wait);
        const body = await readJson(req, EnrollBody, MAX_BODY_BYTES);
        const credential = parseCredential(body.token);
        const token = credential === undefined ? undefined : await s.store.findToken(credential.id);
        if (credential === undefined || token === undefined || token.kind !== "enroll" || !secretMatches(credential.secret, token.secretHash) || !isLive(token, Date.now())) {
          throw new UnauthorizedError("invalid, expired or revoked enrollment token");
        }
        const agentId = newId("agt");
        const { secret, secretHash } = newSecret();
        await s.store.createAgent({ id: agentId, secretHash, hostname: body.hostname, labels: body.labels, enrolledAt: Date.now() });
        log.info({ agentId, hostname: body.hostname, enrollToken: token.id }, "agent enrolled");
        sendJson(res, 201, { agentId, agentKey: `${agentId}.${secret}` });
      },
    },
  ];
}
