import type { Route } from "./route.js";
import { agentRoutes } from "./routes/agents.js";
import { destinationRoutes } from "./routes/destinations.js";
import { downloadRoutes } from "./routes/downloads.js";
import { enrollRoutes } from "./routes/enroll.js";
import { eventRoutes } from "./routes/events.js";
import { queryRoutes } from "./routes/queries.js";
import { schemaRoutes } from "./routes/schema.js";
import { sessionRoutes } from "./routes/session.js";
import { scheduleRoutes } from "./routes/schedules.js";
import { systemRoutes } from "./routes/system.js";
import { tokenRoutes } from "./routes/tokens.js";
import type { ApiServices } from "./services.js";

/**
 * Every REST route of the hub. The OpenAPI description (protocol rest-operations.ts) must describe each
 * one with the same method, path and scope: a test compares the two.
 */
export function routeTable(services: ApiServices): Route[] {
  return [systemRoutes, sessionRoutes, enrollRoutes, agentRoutes, queryRoutes, schemaRoutes, eventRoutes, tokenRoutes, destinationRoutes, scheduleRoutes, downloadRoutes].flatMap((routes) => routes(services));
}
