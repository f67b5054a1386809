import { randomUUID } from "node:crypto";
import { MAX_QUERY_CHARS, MAX_TIMEOUT_MS, SessionId } from "@uplink/protocol";
import { z } from "zod";
import { HubError, NotFoundError } from "../../errors.js";
import { parseWith, readJson, sendError, sendJson } from "../http.js";
import type { Route } from "../route.js";
import { MAX_BODY_BYTES, type ApiServices } from "../services.js";
import { agentView } from "../views.js";

const ListQuery = z.object({
  status: z.enum(["online", "offline", "unresponsive"]).optional(),
  label: z.array(z.string().regex(/^[^=]+=.*$/, "label filters are k=v")).default([]),
});

const QueryBody = z.object({
  query: z.string().trim().min(1, "query must not be empty").max(MAX_QUERY_CHARS),
  collector: z.string().min(1).max(64).default("host"),
  timeoutMs: z.number().int().positive().max(MAX_TIMEOUT_MS).optional(),
  sessionId: SessionId.optional(),
});

/** `/api/v1/agents…`: list, show, revoke, and the single-agent query. */
export function agentRoutes(s: ApiServices): Route[] {
  return [
    {
      method: "GET",
      path: "/api/v1/agents",
      scope: "read",
      async handle({ res, query }) {
        const filter = parseWith(ListQuery, { status: query.get("status") ?? undefined, label: query.getAll("label") }, "query");
        const labels = Object.fromEntries(filter.label.map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
        const agents = await s.router.presence(await s.store.listAgents({ labels }));
        sendJson(res, 200, { agents: agents.filter((a) => filter.status === undefined || a.status === filter.status).map(agentView) });
      },
    },
    {
      method: "GET",
      path: "/api/v1/agents/:id",
      scope: "read",
      async handle({ res, params }) {
        const agent = await s.store.findAgent(params.id!);
        if (agent === undefined || agent.revokedAt !== null) throw new NotFoundError(`no agent ${params.id}`);
        const [live] = await s.router.presence([agent]);
        sendJson(res, 200, agentView(live!));
      },
    },
    {
      method: "DELETE",
      path: "/api/v1/agents/:id",
      scope: "admin",
      async handle({ res, params, principal, log }) {
        const agentId = params.id!;
        if (!(await s.store.revokeAgent(agentId, Date.now()))) throw new NotFoundError(`no agent ${agentId}`);
        // Its socket may be held by another replica; the key is refused from now on wherever it connects.
        await s.router.revoke(agentId).catch((err: unknown) => log.warn({ agentId, err: (err as Error).message }, "closing the revoked agent's socket failed"));
        log.info({ agentId, by: principal?.name }, "agent revoked");
        res.writeHead(204).end();
      },
    },
    {
      method: "POST",
      path: "/api/v1/agents/:id/query",
      scope: "query",
      // A repeat waits for the first request as long as the first may take: its query's deadline.
      idempotency: { waitMs: (body) => commandDeadlineMs(body, s.config.queryTimeoutMs) },
      async handle({ req, res, params, principal, requestId }) {
        const body = await readJson(req, QueryBody, MAX_BODY_BYTES);
        const correlationId = randomUUID();
        const headers = { "X-Correlation-Id": correlationId };
        try {
          const answer = await s.queries.run({
            correlationId,
            agentId: params.id!,
            query: body.query,
            collector: body.collector,
            timeoutMs: body.timeoutMs ?? s.config.queryTimeoutMs,
            sessionId: body.sessionId ?? `api-${randomUUID()}`,
            requester: principal!.name,
            requestId,
          });
          sendJson(res, 200, answer, headers);
        } catch (err) {
          if (!(err instanceof HubError)) throw err;
          sendError(res, err, headers);
        }
      },
    },
  ];
}

/** The deadline a (not yet validated) query body asks for, or the hub's default, plus a margin for the store writes. */
function commandDeadlineMs(body: unknown, defaultMs: number): number {
  const asked = typeof body === "object" && body !== null ? (body as { timeoutMs?: unknown }).timeoutMs : undefined;
  const timeoutMs = typeof asked === "number" && Number.isInteger(asked) && asked > 0 && asked <= MAX_TIMEOUT_MS ? asked : defaultMs;
  return timeoutMs + 5_000;
}
