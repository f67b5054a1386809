import type { IncomingMessage, ServerResponse } from "node:http";
import FindMyWay from "find-my-way";
import { HubError, NotFoundError, NotReadyError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { Authenticator, Principal } from "./auth.js";
import { sendError } from "./http.js";
import type { Route, RouteContext } from "./route.js";

const REQUEST_ID_MAX = 128;

/**
 * Builds the HTTP request listener over `routes` (find-my-way does the path matching). Every error a
 * handler throws becomes `{"error": {code, message}}`; anything unexpected is a logged 500 (503
 * `not_ready` when `ready()` says the store or bus is down) and never escapes the listener.
 */
export function createRequestListener(
  routes: Route[],
  deps: { auth: Authenticator; log: Logger; ready?: () => Promise<boolean> },
): (req: IncomingMessage, res: ServerResponse) => void {
  const router = FindMyWay({
    ignoreTrailingSlash: true,
    maxParamLength: 256,
    defaultRoute: (req, res) => {
      const path = (req.url ?? "/").split("?")[0]!;
      const allowed = routes.filter((r) => r.method !== req.method && router.find(r.method, path) !== null).map((r) => r.method);
      if (allowed.length > 0) {
        sendError(res, HubError.of("method_not_allowed", `${req.method} is not allowed on ${path}`), { Allow: [...new Set(allowed)].join(", ") });
      } else {
        sendError(res, new NotFoundError(`no route ${req.method} ${path}`));
      }
    },
  });
  for (const route of routes) {
    router.on(route.method, route.path, (req, res, params) => {
      void run(route, req, res, params as Record<string, string | undefined>);
    });
  }

  async function run(route: Route, req: IncomingMessage, res: ServerResponse, params: Record<string, string | undefined>): Promise<void> {
    const header = req.headers["x-request-id"];
    const requestId = typeof header === "string" && header.length > 0 && header.length <= REQUEST_ID_MAX ? header : null;
    const ctx = new RequestContext(req, res, params, requestId, deps.log);
    try {
      if (route.scope !== null) ctx.principal = await deps.auth.authenticate(req, route.scope);
      await route.handle(ctx);
    } catch (err) {
      if (err instanceof HubError) {
        if (err.status >= 500) ctx.log.error({ err, route: route.path }, "request failed");
        sendError(res, err);
      } else if (deps.ready !== undefined && !(await deps.ready().catch(() => false))) {
        // The store (or the bus) is down: say so, as a retryable 503, rather than an opaque 500.
        ctx.log.error({ err, route: route.path }, "request failed: the hub is not ready");
        sendError(res, new NotReadyError("the hub's store or cluster bus is unreachable; retry shortly", { cause: err }));
      } else {
        ctx.log.error({ err, route: route.path }, "unexpected failure");
        sendError(res, HubError.of("internal", "internal error"));
      }
    }
  }

  return (req, res) => {
    try {
      router.lookup(req, res);
    } catch (err) {
      deps.log.error({ err }, "routing failed");
      sendError(res, HubError.of("invalid_request", "malformed request"));
    }
  };
}

/**
 * What a handler gets: the query string and the request's logger are made on first use, since the
 * single-query hot path reads neither and a child logger per request costs more than a log line (issue 15).
 * A class, not an object literal with getters: V8 makes such a literal the slow way.
 */
class RequestContext implements RouteContext {
  principal: Principal | null = null;
  #query: URLSearchParams | undefined;
  #log: Logger | undefined;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly params: Record<string, string | undefined>,
    readonly requestId: string | null,
    private readonly root: Logger,
  ) {}

  get query(): URLSearchParams {
    if (this.#query === undefined) {
      const url = this.req.url ?? "/";
      const q = url.indexOf("?");
      this.#query = new URLSearchParams(q < 0 ? "" : url.slice(q + 1));
    }
    return this.#query;
  }

  get log(): Logger {
    return (this.#log ??= this.requestId === null ? this.root : this.root.child({ requestId: this.requestId }));
  }
}
