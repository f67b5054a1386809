import type { AgentRegistry } from "../agents/agent-registry.js";
import type { PresenceWriter } from "../agents/presence-writer.js";
import type { HubConfig } from "../config.js";
import type { Logger } from "../logger.js";
import type { HubMetrics } from "../metrics.js";
import type { DestinationDelivery } from "../destinations/destination-delivery.js";
import type { EventLog } from "../events/event-log.js";
import type { FanoutService } from "../queries/fanout-service.js";
import type { CommandRouter } from "../queries/command-router.js";
import type { QueryService } from "../queries/query-service.js";
import type { RateLimiter } from "../security/rate-limiter.js";
import type { Sessions } from "../security/sessions.js";
import type { SchemaCatalog } from "../queries/schema-catalog.js";
import type { Scheduler } from "../schedules/scheduler.js";
import type { Store } from "../store/store.js";
import type { Authenticator } from "./auth.js";
import type { SseStreams } from "./sse.js";

/** What the REST routes work with. */
export interface ApiServices {
  config: HubConfig;
  hubId: string;
  /** Store (and, in cluster mode, bus) ready. */
  ready(): Promise<boolean>;
  store: Store;
  registry: AgentRegistry;
  /** Fresh lastSeenAt and health of the agents held here, ahead of the store (written every --presence-flush). */
  presence: PresenceWriter;
  router: CommandRouter;
  queries: QueryService;
  fanouts: FanoutService;
  /** Runs schedules and policies; told of every change made through the API. */
  scheduler: Scheduler;
  events: EventLog;
  destinations: DestinationDelivery;
  streams: SseStreams;
  metrics: HubMetrics;
  enrollLimiter: RateLimiter;
  /** Failed console sign-ins per client address. */
  signInLimiter: RateLimiter;
  sessions: Sessions;
  /** The host tables' schema, learned from agents (GET /api/v1/schema). */
  schemas: SchemaCatalog;
  auth: Authenticator;
  log: Logger;
}

/** Largest REST request body. */
export const MAX_BODY_BYTES = 1024 * 1024;
