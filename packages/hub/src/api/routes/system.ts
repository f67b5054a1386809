import type { HealthzResponse, ReadyzResponse } from "@uplink/protocol";
import { sendError, sendJson } from "../http.js";
import { NotReadyError } from "../../errors.js";
import type { Route } from "../route.js";
import type { ApiServices } from "../services.js";

/** `/healthz`, `/readyz`: no token. (`/metrics` has a listener of its own: MetricsListener.) */
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
  ];
}
