import { TokenRequest, type TokenCreated, type TokenList } from "@uplink/protocol";
import { installLine, publicUrlFor } from "../../downloads/install-line.js";
import { NotFoundError } from "../../errors.js";
import { createToken, publicToken } from "../../security/tokens.js";
import { readJson, sendJson } from "../http.js";
import type { Route } from "../route.js";
import { MAX_BODY_BYTES, type ApiServices } from "../services.js";

/** `/api/v1/tokens`: create (the secret shown once), list (never the secret), revoke. */
export function tokenRoutes(s: ApiServices): Route[] {
  return [
    {
      method: "POST",
      path: "/api/v1/tokens",
      scope: "admin",
      async handle({ req, res, principal, log }) {
        const body = await readJson(req, TokenRequest, MAX_BODY_BYTES);
        // Enrollment tokens expire by default, and may carry a default use count (docs/architecture.md, "Limits").
        const enrollDefaults =
          body.kind === "enroll"
            ? { ttlSeconds: body.ttlSeconds ?? Math.ceil(s.config.enrollTokenTtlMs / 1000), maxUses: body.maxUses ?? (s.config.enrollTokenUses || undefined) }
            : {};
        const { token, record } = await createToken(s.store, { ...body, ...enrollDefaults, scope: body.kind === "api" ? (body.scope ?? "read") : null });
        log.info({ tokenId: record.id, kind: record.kind, scope: record.scope, by: principal?.name }, "token created");
        // An enrollment token comes with the line that installs a host with it (when this hub's URL is known).
        const hub = body.kind === "enroll" ? publicUrlFor(req, s.config.publicUrl, s.config.tlsCert !== undefined) : undefined;
        sendJson(res, 201, { ...record, token, ...(hub === undefined ? {} : { installLine: installLine(hub, token) }) } satisfies TokenCreated);
      },
    },
    {
      method: "GET",
      path: "/api/v1/tokens",
      scope: "admin",
      async handle({ res }) {
        sendJson(res, 200, { tokens: (await s.store.listTokens()).map(publicToken) } satisfies TokenList);
      },
    },
    {
      method: "DELETE",
      path: "/api/v1/tokens/:id",
      scope: "admin",
      async handle({ res, params, principal, log }) {
        if (!(await s.store.revokeToken(params.id!, Date.now()))) throw new NotFoundError(`no live token ${params.id}`);
        // Its console sessions end with it (they would be refused anyway: a session checks its token).
        const sessions = await s.store.deleteTokenSessions(params.id!);
        s.auth.forget(params.id!);
        log.info({ tokenId: params.id, sessions, by: principal?.name }, "token revoked");
        res.writeHead(204).end();
      },
    },
  ];
}
