import { z } from "zod";
import { parseWith, sendJson } from "../http.js";
import type { Route } from "../route.js";
import type { ApiServices } from "../services.js";
import { auditView } from "../views.js";

const HistoryQuery = z.object({
  agentId: z.string().min(1).max(256).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  before: z.coerce.number().int().positive().optional(),
});

/** `GET /api/v1/queries`: the audit, newest first, paged by `before` (the `seq` of the last row seen). */
export function historyRoutes(s: ApiServices): Route[] {
  return [
    {
      method: "GET",
      path: "/api/v1/queries",
      scope: "read",
      async handle({ res, query }) {
        const q = parseWith(HistoryQuery, Object.fromEntries(query), "query");
        const rows = await s.store.listAudit(q);
        const nextBefore = rows.length === q.limit ? rows[rows.length - 1]!.seq : null;
        sendJson(res, 200, { queries: rows.map(auditView), nextBefore });
      },
    },
  ];
}
