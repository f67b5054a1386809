import { SchemaQuery } from "@uplink/protocol";
import { parseWith, sendJson } from "../http.js";
import type { Route } from "../route.js";
import type { ApiServices } from "../services.js";

/** `GET /api/v1/schema`: the host tables and their columns, for the console's editor (queries/schema-catalog.ts). */
export function schemaRoutes(s: ApiServices): Route[] {
  return [
    {
      method: "GET",
      path: "/api/v1/schema",
      scope: "query",
      async handle({ res, query }) {
        const q = parseWith(SchemaQuery, { agentId: query.get("agentId") ?? undefined }, "query");
        sendJson(res, 200, await s.schemas.schema(q.agentId));
      },
    },
  ];
}
