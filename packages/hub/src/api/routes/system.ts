import { sendError, sendJson } from "../http.js";
import { NotReadyError } from "../../errors.js";
import type { Route } from "../route.js";
import type { ApiServices } from "../services.js";

/** `/healthz`, `/readyz`, `/metrics`: no token (bind `/metrics` privately). */
export function systemRoutes(s: ApiServices): Route[] {
  return [
    {
      method: "GET",
      path: "/healthz",
      scope: null,
      async handle({ res }) {
        sendJson(res, 200, { status: "ok", hubId: s.hubId });
      },
    },
    {
      method: "GET",
      path: "/readyz",
      scope: null,
      async handle({ res }) {
        if (await s.ready()) sendJson(res, 200, { status: "ready", hubId: s.hubId });
        else sendError(res, new NotReadyError("store or cluster bus is not ready"));
      },
    },
    {
      method: "GET",
      path: "/metrics",
      scope: null,
      async handle({ res }) {
        const text = await s.metrics.registry.metrics();
        res.writeHead(200, { "Content-Type": s.metrics.registry.contentType });
        res.end(text);
      },
    },
  ];
}
