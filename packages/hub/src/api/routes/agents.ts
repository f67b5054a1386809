import { randomUUID } from "node:crypto";
import { AgentListQuery, AgentPatchRequest, AgentQueryRequest, MAX_HEALTH_SAMPLES, MAX_TIMEOUT_MS, type AgentHealthHistory, type AgentList } from "@uplink/protocol";
import { BadRequestError, HubError, NotFoundError } from "../../errors.js";
import { answerJson } from "../../queries/query-service.js";
import { CallerSignal } from "../caller-signal.js";
import { parseWith, readJson, sendError, sendJson, sendJsonText } from "../http.js";
import type { Route } from "../route.js";
import type { AgentKey, AgentRecord } from "../../store/store.js";
import { MAX_BODY_BYTES, type ApiServices } from "../services.js";
import { agentView, healthSampleView } from "../views.js";

/**
 * `?label=k=v` filters → the labels every agent must carry; null when two filters name one key with
 * different values, which no agent can match.
 */
export function labelFilter(pairs: string[]): Record<string, string> | null {
  // No prototype: a filter named `__proto__` is a label like any other, never the object's prototype
  // (which would leave the filter empty, matching every agent).
  const labels: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const kv of pairs) {
    const key = kv.slice(0, kv.indexOf("="));
    const value = kv.slice(kv.indexOf("=") + 1);
    if (Object.hasOwn(labels, key) && labels[key] !== value) return null;
    labels[key] = value;
  }
  return labels;
}

/** The `nextAfter` of a page ending with `agent`: its place in the list's order, opaque to callers. */
export function encodeAgentCursor(agent: AgentKey): string {
  return Buffer.from(JSON.stringify([agent.hostname, agent.id])).toString("base64url");
}

/** The place an `after` names; a 400 when it is not one this hub gave. */
export function decodeAgentCursor(after: string): AgentKey {
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(after, "base64url").toString("utf8"));
  } catch {
    key = undefined;
  }
  if (!Array.isArray(key) || key.length !== 2 || typeof key[0] !== "string" || typeof key[1] !== "string") {
    throw new BadRequestError("invalid query: after is not a nextAfter of this list");
  }
  return { hostname: key[0], id: key[1] };
}

/** The deadline of a query: the caller's, refused past the hub's maximum; the hub's default otherwise. */
export function deadlineOf(s: ApiServices, timeoutMs: number | undefined): number {
  if (timeoutMs !== undefined && timeoutMs > s.config.maxQueryTimeoutMs) {
    throw new BadRequestError(`invalid body: timeoutMs ${timeoutMs} exceeds this hub's maximum of ${s.config.maxQueryTimeoutMs} ms (--max-query-timeout)`);
  }
  return timeoutMs ?? s.config.queryTimeoutMs;
}

/** `/api/v1/agents…`: list, show, revoke, and the single-agent query. */
export function agentRoutes(s: ApiServices): Route[] {
  return [
    {
      method: "GET",
      path: "/api/v1/agents",
      scope: "read",
      async handle({ res, query }) {
        const filter = parseWith(
          AgentListQuery,
          { status: query.get("status") ?? undefined, label: query.getAll("label"), limit: query.get("limit") ?? undefined, after: query.get("after") ?? undefined },
          "query",
        );
        const labels = labelFilter(filter.label);
        const wanted = (a: AgentRecord) => filter.status === undefined || a.status === filter.status;
        if (filter.limit === undefined) {
          if (filter.after !== undefined) throw new BadRequestError("invalid query: after needs limit");
          const agents = labels === null ? [] : s.presence.overlay(await s.router.presence(await s.store.listAgents({ labels })));
          sendJson(res, 200, { agents: agents.filter(wanted).map(agentView) } satisfies AgentList);
          return;
        }
        if (labels === null) {
          sendJson(res, 200, { agents: [], nextAfter: null, counts: { online: 0, unresponsive: 0, offline: 0 } } satisfies AgentList);
          return;
        }
        const after = filter.after === undefined ? null : decodeAgentCursor(filter.after);
        // One more than the page: whether another page follows, without a count of what is left.
        const [rows, counts] = await Promise.all([s.store.listAgentsPage({ labels, status: filter.status, after, limit: filter.limit + 1 }), s.store.countAgents(labels)]);
        const page = rows.slice(0, filter.limit);
        const last = page.at(-1);
        const nextAfter = rows.length > filter.limit && last !== undefined ? encodeAgentCursor(last) : null;
        // The store filtered by its recorded status; a replica's live view may differ (cluster presence).
        const agents = s.presence.overlay(await s.router.presence(page)).filter(wanted);
        sendJson(res, 200, { agents: agents.map(agentView), nextAfter, counts } satisfies AgentList);
      },
    },
    {
      method: "GET",
      path: "/api/v1/agents/:id",
      scope: "read",
      async handle({ res, params }) {
        const agent = await s.store.findAgent(params.id!);
        if (agent === undefined || agent.revokedAt !== null) throw new NotFoundError(`no agent ${params.id}`);
        const [live] = s.presence.overlay(await s.router.presence([agent]));
        sendJson(res, 200, agentView(live!));
      },
    },
    {
      method: "GET",
      path: "/api/v1/agents/:id/health",
      scope: "read",
      async handle({ res, params }) {
        // The samples have a table of their own (one presence flush appends one per agent), read by (agent, time).
        const agent = await s.store.findAgent(params.id!);
        if (agent === undefined || agent.revokedAt !== null) throw new NotFoundError(`no agent ${params.id}`);
        const samples = await s.store.listHealthSamples(agent.id, MAX_HEALTH_SAMPLES);
        sendJson(res, 200, { samples: samples.map(healthSampleView) } satisfies AgentHealthHistory);
      },
    },
    {
      method: "PATCH",
      path: "/api/v1/agents/:id",
      scope: "admin",
      async handle({ req, res, params, principal, log }) {
        const body = await readJson(req, AgentPatchRequest, MAX_BODY_BYTES);
        const agent = await s.store.findAgent(params.id!);
        if (agent === undefined || agent.revokedAt !== null) throw new NotFoundError(`no agent ${params.id}`);
        await s.store.updateAgent(agent.id, { labels: body.labels });
        log.info({ agentId: agent.id, labels: body.labels, by: principal?.name }, "agent labels set");
        const [live] = s.presence.overlay(await s.router.presence([{ ...agent, labels: body.labels }]));
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
        const body = await readJson(req, AgentQueryRequest, MAX_BODY_BYTES);
        const timeoutMs = deadlineOf(s, body.timeoutMs);
        const correlationId = randomUUID();
        const headers = { "X-Correlation-Id": correlationId };
        try {
          const answer = await s.queries.run({
            correlationId,
            agentId: params.id!,
            query: body.query,
            collector: body.collector,
            timeoutMs,
            sessionId: body.sessionId ?? `api-${randomUUID()}`,
            requester: principal!.name,
            requestId,
            // A caller that disconnects before its answer gives up the command: the hub cancels it on the agent.
            signal: new CallerSignal(res),
          });
          sendJsonText(res, 200, answerJson(answer), headers);
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
