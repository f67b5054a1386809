import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "../logger.js";
import type { Scope } from "../store/store.js";
import type { Principal } from "./auth.js";
import type { IdempotencyOptions } from "./idempotency.js";

/** What a route handler gets. */
export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string | undefined>;
  query: URLSearchParams;
  /** Null on routes without a scope. */
  principal: Principal | null;
  /** The client's own X-Request-Id, logged and stored beside the correlationId. */
  requestId: string | null;
  log: Logger;
}

/** One REST endpoint. `scope: null` routes need no token. Handlers write the response or throw a HubError. */
export interface Route {
  method: "GET" | "POST" | "PATCH" | "DELETE";
  path: string;
  scope: Scope | null;
  handle(ctx: RouteContext): Promise<void>;
  /**
   * Every POST honours an `Idempotency-Key` (see api/idempotency.ts); these options tune it for the
   * route (who the requester is, how long a repeat waits), and `false` opts a POST out.
   */
  idempotency?: IdempotencyOptions | false;
}
