import { OPENAPI_PATH, openApiDocument, type HealthzResponse, type ReadyzResponse } from "@uplink/protocol";
import { sendError, sendJson } from "../http.js";
import { NotReadyError } from "../../errors.js";
import type { Route } from "../route.js";
import type { ApiServices } from "../services.js";

/** The OpenAPI description as served: generated once, on first request. */
let description: string | undefined;

/**
 * `/healthz`, `/readyz` and the OpenAPI description, no token: the description tells nothing the
 * published API does not, and an operator's tools import it before they hold one. (`/metrics` has a
 * listener of its own: MetricsListener.)
 */
export function systemRoutes(s: ApiServices): Route[] {
  return [
    {
      method: "GET",
      path: "/healthz",
      scope: null,
      async handle({ res }) {
        sendJson(res, 200, { status: "ok", hubId: s.hubId } satisfies HealthzResponse);
      },
    },
    {
      method: "GET",
      path: "/readyz",
      scope: null,
      async handle({ res }) {
        if (await s.ready()) sendJson(res, 200, { status: "ready", hubId: s.hubId } satisfies ReadyzResponse);
        else sendError(res, new NotReadyError("store or cluster bus is not ready"));
      },
    },
    {
      method: "GET",
      path: OPENAPI_PATH,
      scope: null,
      async handle({ res }) {
        description ??= `${JSON.stringify(openApiDocument(), null, 2)}\n`;
        res.writeHead(200, { "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(description), "Cache-Control": "no-cache" });
        res.end(description);
      },
    },
  ];
}
