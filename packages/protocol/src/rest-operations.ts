import type { z } from "zod";
import type { HttpErrorCode } from "./error-codes.js";
import {
  AgentList,
  AgentListQuery,
  AgentPatchRequest,
  AgentQueryRequest,
  AgentView,
  ENROLL_PATH,
  EnrollRequest,
  EnrollResponse,
  HealthzResponse,
  QueryAnswer,
  ReadyzResponse,
} from "./rest.js";
import { AuditRow, FANOUT_STREAM_EVENTS, FanoutPage, FanoutPageQuery, FanoutRequest, FanoutStarted, FanoutView, HistoryPage, HistoryQuery, HUB_STREAM_EVENTS, StreamQuery } from "./rest-queries.js";
import { TokenCreated, TokenList, TokenRequest, type Scope } from "./rest-tokens.js";
import { AgentHealthHistory, HubSchema, SchemaQuery, SessionRequest, SessionView } from "./rest-console.js";
import { DestinationList, DestinationRequest, DestinationView } from "./rest-destinations.js";
import {
  PolicyDetail,
  PolicyList,
  PolicyPatch,
  PolicyRequest,
  PolicyView,
  ScheduleList,
  SchedulePatch,
  ScheduleRequest,
  ScheduleResults,
  ScheduleResultsQuery,
  ScheduleView,
} from "./rest-schedules.js";

/** Where the hub serves its OpenAPI description (no token: see docs/openapi.md). */
export const OPENAPI_PATH = "/api/v1/openapi.json";

/** One answer of an operation: a JSON body of a shape, a Server-Sent Events stream, bytes, or nothing. */
export type RestAnswer =
  | { description: string; json: z.ZodType; headers?: Record<string, string> }
  | { description: string; events: Record<string, z.ZodType> }
  | { description: string; contentType: string }
  | { description: string; empty: true };

/**
 * One REST endpoint as the hub serves it: the route table (packages/hub/src/api) and this list must name
 * the same method, path and scope (a test compares them). Error answers are the ErrorBody; `errors`
 * names the codes an operation itself raises (the registry gives each its status); the ones every route
 * may raise (auth, body, idempotency, 500, 503) are added by the description's generator (openapi.ts).
 */
export interface RestOperation {
  method: "GET" | "POST" | "PATCH" | "DELETE";
  /** The hub's route syntax: `/api/v1/agents/:id`. */
  path: string;
  /** The token scope the call needs; null: no token. */
  scope: Scope | null;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  query?: z.ZodObject;
  /** Request headers the operation reads, with what they mean. */
  headers?: Record<string, string>;
  body?: z.ZodType;
  responses: Record<number, RestAnswer>;
  /** The codes the operation itself may answer; their statuses come from the error registry. */
  errors?: HttpErrorCode[];
  /** POSTs honour an `Idempotency-Key`; false for the few that do not. */
  idempotent?: boolean;
}

/** How both event streams resume. */
const resumable = {
  "Last-Event-ID": "The id of the last event the client received, as an EventSource sends it when it reconnects: the stream resumes after it. It wins over `?after=`, which only places a first connection; empty counts as absent.",
};

const correlated = { "X-Correlation-Id": "The command's correlationId: its audit row is `GET /api/v1/queries/{correlationId}`." };

/** Every operation of the REST API, in the order the description lists them. */
export const REST_OPERATIONS: RestOperation[] = [
  { method: "GET", path: "/healthz", scope: null, tag: "system", operationId: "healthz", summary: "Liveness: the process answers", responses: { 200: { description: "The hub is up", json: HealthzResponse } } },
  {
    method: "GET",
    path: "/readyz",
    scope: null,
    tag: "system",
    operationId: "readyz",
    summary: "Readiness: the store (and the cluster bus) answer",
    responses: { 200: { description: "Ready to serve", json: ReadyzResponse } },
  },
  {
    method: "GET",
    path: OPENAPI_PATH,
    scope: null,
    tag: "system",
    operationId: "openapi",
    summary: "This description (OpenAPI 3.1)",
    responses: { 200: { description: "The OpenAPI document", contentType: "application/json" } },
  },
  {
    method: "POST",
    path: ENROLL_PATH,
    scope: null,
    tag: "agents",
    operationId: "enroll",
    summary: "Enroll an agent with an enrollment token",
    description: "The enrollment token is in the body, not in an Authorization header. The agent key is shown this once.",
    body: EnrollRequest,
    responses: { 201: { description: "Enrolled", json: EnrollResponse } },
    errors: ["unauthorized", "rate_limited"],
  },
  {
    method: "POST",
    path: "/api/v1/session",
    scope: null,
    tag: "console",
    operationId: "signIn",
    summary: "Exchange an API token for a web console session",
    description:
      "Sets the `uplink_session` cookie (HttpOnly, SameSite=Strict, Secure over TLS), which every call then accepts instead of a bearer token, with the token's scope. Calls other than GET made with the cookie must send `X-CSRF-Token: <csrfToken>`. Failed attempts are rate-limited per client address.",
    body: SessionRequest,
    idempotent: false,
    responses: { 201: { description: "Signed in", json: SessionView, headers: { "Set-Cookie": "The session cookie." } } },
    errors: ["unauthorized", "rate_limited"],
  },
  {
    method: "GET",
    path: "/api/v1/session",
    scope: null,
    tag: "console",
    operationId: "getSession",
    summary: "The session of the request's cookie",
    responses: { 200: { description: "The live session", json: SessionView } },
    errors: ["unauthorized"],
  },
  {
    method: "DELETE",
    path: "/api/v1/session",
    scope: null,
    tag: "console",
    operationId: "signOut",
    summary: "End the session of the request's cookie and clear the cookie",
    description: "Needs `X-CSRF-Token` when the cookie names a live session.",
    responses: { 204: { description: "Signed out", empty: true } },
    errors: ["csrf_failed"],
  },
  {
    method: "GET",
    path: "/api/v1/schema",
    scope: "query",
    tag: "console",
    operationId: "getSchema",
    summary: "The tables and columns agents answer, as the hub learned them from an online agent",
    description: "Learned once per agent version (by an introspection query to one of its agents) and kept in memory.",
    query: SchemaQuery,
    responses: { 200: { description: "The schema", json: HubSchema } },
    errors: ["invalid_request", "not_found", "agent_offline", "timeout", "busy", "bad_response", "agent_disconnected", "replica_unreachable", "bus_unavailable"],
  },
  {
    method: "GET",
    path: "/api/v1/agents",
    scope: "read",
    tag: "agents",
    operationId: "listAgents",
    summary: "List agents, optionally by status and labels, whole or a page at a time",
    description: "By hostname, then id. With `limit`: one page (keyset, `after` = the previous page's `nextAfter`) and the counts per status for the label filter.",
    query: AgentListQuery,
    responses: { 200: { description: "The agents that match (a page of them with `limit`)", json: AgentList } },
    errors: ["invalid_request"],
  },
  {
    method: "GET",
    path: "/api/v1/agents/:id",
    scope: "read",
    tag: "agents",
    operationId: "getAgent",
    summary: "One agent",
    responses: { 200: { description: "The agent", json: AgentView } },
    errors: ["not_found"],
  },
  {
    method: "GET",
    path: "/api/v1/agents/:id/health",
    scope: "read",
    tag: "agents",
    operationId: "getAgentHealth",
    summary: "An agent's recent health samples, oldest first (one per presence flush)",
    responses: { 200: { description: "The samples", json: AgentHealthHistory } },
    errors: ["not_found"],
  },
  {
    method: "PATCH",
    path: "/api/v1/agents/:id",
    scope: "admin",
    tag: "agents",
    operationId: "setAgentLabels",
    summary: "Replace an agent's labels",
    body: AgentPatchRequest,
    responses: { 200: { description: "The agent with its new labels", json: AgentView } },
    errors: ["not_found"],
  },
  {
    method: "DELETE",
    path: "/api/v1/agents/:id",
    scope: "admin",
    tag: "agents",
    operationId: "revokeAgent",
    summary: "Revoke an agent: its key is refused from now on and its connection closed",
    responses: { 204: { description: "Revoked", empty: true } },
    errors: ["not_found"],
  },
  {
    method: "POST",
    path: "/api/v1/agents/:id/query",
    scope: "query",
    tag: "queries",
    operationId: "queryAgent",
    summary: "Run one read-only SQL query on one agent and wait for its answer",
    body: AgentQueryRequest,
    responses: { 200: { description: "The agent's answer", json: QueryAnswer, headers: correlated } },
    errors: ["not_found", "agent_offline", "query_failed", "read_only", "empty_query", "unsupported_query", "unknown_collector", "resource_limit", "bad_command", "bad_response", "agent_error", "cancelled", "agent_disconnected", "agent_replaced", "replica_unreachable", "bus_unavailable", "internal", "busy", "hub_shutting_down", "timeout"],
  },
  {
    method: "GET",
    path: "/api/v1/queries",
    scope: "read",
    tag: "queries",
    operationId: "listQueries",
    summary: "The query audit, newest first",
    query: HistoryQuery,
    responses: { 200: { description: "One page of the audit", json: HistoryPage } },
    errors: ["invalid_request"],
  },
  {
    method: "POST",
    path: "/api/v1/queries",
    scope: "query",
    tag: "queries",
    operationId: "startFanout",
    summary: "Start one query on many agents (by ids, labels or all)",
    description: "Answers at once; the results arrive on `GET /api/v1/queries/{id}/stream` and in `GET /api/v1/queries/{id}`.",
    body: FanoutRequest,
    responses: { 202: { description: "Started", json: FanoutStarted, headers: { Location: "The fan-out's URL." } } },
  },
  {
    method: "GET",
    path: "/api/v1/queries/:id",
    scope: "read",
    tag: "queries",
    operationId: "getQuery",
    summary: "A fan-out (`fan_…`) with its targets, or one command's audit row by its correlationId",
    description: "For a fan-out, `limit` asks for one page of its targets in agent-id order (the counts and header on every page); `after` is the previous page's `nextAfter`.",
    query: FanoutPageQuery,
    responses: { 200: { description: "The fan-out (every target, or a page of them) or the audit row", json: FanoutView.or(FanoutPage).or(AuditRow) } },
    errors: ["not_found", "invalid_request"],
  },
  {
    method: "POST",
    path: "/api/v1/queries/:id/cancel",
    scope: "query",
    tag: "queries",
    operationId: "cancelFanout",
    summary: "Cancel a running fan-out: every target still pending is cancelled on its agent",
    description:
      "Allowed to the token the fan-out was started with (its requester) and to admin tokens. Each pending target's agent gets `cancel` (through the replica holding it, in cluster mode) and the target reads `cancelled`; targets that already ended keep their outcome. Answers once the fan-out has ended, with its view: its result stream has sent a `result` for every cancelled target, then `done`.",
    responses: { 200: { description: "The fan-out, ended", json: FanoutView } },
    errors: ["not_found", "forbidden", "fanout_finished", "replica_unreachable", "bus_unavailable"],
  },
  {
    method: "GET",
    path: "/api/v1/queries/:id/stream",
    scope: "read",
    tag: "queries",
    operationId: "streamFanout",
    summary: "A fan-out's results as Server-Sent Events, then `done`",
    description:
      "Each `result` event's id is its resultSeq (1 … targetCount) and `done`'s is targetCount + 1; reconnect with `Last-Event-ID` (which wins over `?after=`) to resume without repeats. An id that is not one the stream sends is refused with 400.",
    query: StreamQuery,
    headers: resumable,
    responses: {
      200: { description: "The result stream", events: FANOUT_STREAM_EVENTS },
      204: { description: "The stream is over: the client resumes after its `done` (an EventSource stops on a 204)", empty: true },
    },
    errors: ["not_found"],
  },
  {
    method: "GET",
    path: "/api/v1/events",
    scope: "read",
    tag: "events",
    operationId: "streamEvents",
    summary: "The hub's events as Server-Sent Events",
    description:
      "Each event's id is its seq in the hub's bounded log; reconnect with `Last-Event-ID` (which wins over `?after=`) to replay what was missed. An id that is not a non-negative integer, or is past the newest event, is refused with 400.",
    query: StreamQuery,
    headers: resumable,
    responses: { 200: { description: "The event stream", events: HUB_STREAM_EVENTS } },
  },
  {
    method: "POST",
    path: "/api/v1/tokens",
    scope: "admin",
    tag: "tokens",
    operationId: "createToken",
    summary: "Create an API or enrollment token (its secret is shown this once)",
    body: TokenRequest,
    responses: { 201: { description: "Created", json: TokenCreated } },
  },
  { method: "GET", path: "/api/v1/tokens", scope: "admin", tag: "tokens", operationId: "listTokens", summary: "List tokens (never their secrets)", responses: { 200: { description: "Every token", json: TokenList } } },
  {
    method: "DELETE",
    path: "/api/v1/tokens/:id",
    scope: "admin",
    tag: "tokens",
    operationId: "revokeToken",
    summary: "Revoke a token",
    responses: { 204: { description: "Revoked", empty: true } },
    errors: ["not_found"],
  },
  {
    method: "POST",
    path: "/api/v1/destinations",
    scope: "admin",
    tag: "destinations",
    operationId: "createDestination",
    summary: "Add a destination for schedule results and policy changes: a signed webhook or an NDJSON file",
    description:
      "Every `schedule.result` and `policy.changed` event from now on is delivered to it at least once, in order, retried with backoff until it lands. A webhook gets each event as the JSON body `{id, type, data}` with `Uplink-Signature: sha256=<hex HMAC-SHA256 of the body with the secret>` and an `Idempotency-Key` stable per event and destination; the secret is never shown again. A file gets one NDJSON line per event, rotated by size.",
    body: DestinationRequest,
    responses: { 201: { description: "Created", json: DestinationView, headers: { Location: "The destination's URL." } } },
  },
  { method: "GET", path: "/api/v1/destinations", scope: "admin", tag: "destinations", operationId: "listDestinations", summary: "List destinations (never their secrets)", responses: { 200: { description: "Every destination", json: DestinationList } } },
  {
    method: "GET",
    path: "/api/v1/destinations/:id",
    scope: "admin",
    tag: "destinations",
    operationId: "getDestination",
    summary: "One destination, with how far its delivery got",
    responses: { 200: { description: "The destination", json: DestinationView } },
    errors: ["not_found"],
  },
  {
    method: "DELETE",
    path: "/api/v1/destinations/:id",
    scope: "admin",
    tag: "destinations",
    operationId: "deleteDestination",
    summary: "Delete a destination: its delivery stops at once",
    responses: { 204: { description: "Deleted", empty: true } },
    errors: ["not_found"],
  },
  {
    method: "POST",
    path: "/api/v1/schedules",
    scope: "admin",
    tag: "schedules",
    operationId: "createSchedule",
    summary: "Create a scheduled query: run on its targets at its interval, each run stored",
    description:
      "Each targeted agent runs it once per interval, at a stable point of the interval of its own (runs spread evenly). `differential` stores per run the rows added and removed since the agent's last successful run (its first is a full snapshot, `snapshot: true`); `snapshot` stores the rows. Each run ends in a `schedule.result` hub event.",
    body: ScheduleRequest,
    responses: { 201: { description: "Created", json: ScheduleView, headers: { Location: "The schedule's URL." } } },
    errors: ["name_taken"],
  },
  { method: "GET", path: "/api/v1/schedules", scope: "read", tag: "schedules", operationId: "listSchedules", summary: "Every scheduled query, by name", responses: { 200: { description: "The schedules", json: ScheduleList } } },
  { method: "GET", path: "/api/v1/schedules/:id", scope: "read", tag: "schedules", operationId: "getSchedule", summary: "One scheduled query", responses: { 200: { description: "The schedule", json: ScheduleView } }, errors: ["not_found"] },
  {
    method: "PATCH",
    path: "/api/v1/schedules/:id",
    scope: "admin",
    tag: "schedules",
    operationId: "updateSchedule",
    summary: "Change a scheduled query; the change applies at its next tick",
    body: SchedulePatch,
    responses: { 200: { description: "The schedule as changed", json: ScheduleView } },
    errors: ["not_found", "name_taken"],
  },
  {
    method: "DELETE",
    path: "/api/v1/schedules/:id",
    scope: "admin",
    tag: "schedules",
    operationId: "deleteSchedule",
    summary: "Delete a scheduled query: no run of it starts from now on",
    responses: { 204: { description: "Deleted", empty: true } },
    errors: ["not_found"],
  },
  {
    method: "GET",
    path: "/api/v1/schedules/:id/results",
    scope: "read",
    tag: "schedules",
    operationId: "listScheduleResults",
    summary: "The stored runs of a scheduled query, newest first",
    query: ScheduleResultsQuery,
    responses: { 200: { description: "One page of runs", json: ScheduleResults } },
    errors: ["not_found", "invalid_request"],
  },
  {
    method: "POST",
    path: "/api/v1/policies",
    scope: "admin",
    tag: "policies",
    operationId: "createPolicy",
    summary: "Create a policy: a query that returns rows on a host that passes",
    description: "Each host's state is kept: rows → pass, no rows → fail, no answer (error, timeout, offline) → unknown with the reason. A change of state is a `policy.changed` hub event.",
    body: PolicyRequest,
    responses: { 201: { description: "Created", json: PolicyView, headers: { Location: "The policy's URL." } } },
    errors: ["name_taken"],
  },
  { method: "GET", path: "/api/v1/policies", scope: "read", tag: "policies", operationId: "listPolicies", summary: "Every policy with its counts per state", responses: { 200: { description: "The policies", json: PolicyList } } },
  {
    method: "GET",
    path: "/api/v1/policies/:id",
    scope: "read",
    tag: "policies",
    operationId: "getPolicy",
    summary: "One policy: its counts per state and its failing hosts with their reasons",
    responses: { 200: { description: "The policy", json: PolicyDetail } },
    errors: ["not_found"],
  },
  {
    method: "PATCH",
    path: "/api/v1/policies/:id",
    scope: "admin",
    tag: "policies",
    operationId: "updatePolicy",
    summary: "Change a policy; the change applies at its next tick",
    body: PolicyPatch,
    responses: { 200: { description: "The policy as changed", json: PolicyView } },
    errors: ["not_found", "name_taken"],
  },
  {
    method: "DELETE",
    path: "/api/v1/policies/:id",
    scope: "admin",
    tag: "policies",
    operationId: "deletePolicy",
    summary: "Delete a policy with its host states: no check of it starts from now on",
    responses: { 204: { description: "Deleted", empty: true } },
    errors: ["not_found"],
  },
  {
    method: "GET",
    path: "/install.sh",
    scope: null,
    tag: "downloads",
    operationId: "installScript",
    summary: "The agent's install script, pointed at this hub",
    responses: { 200: { description: "The script", contentType: "text/x-shellscript" } },
    errors: ["invalid_request"],
  },
  {
    method: "GET",
    path: "/downloads/:file",
    scope: null,
    tag: "downloads",
    operationId: "download",
    summary: "A file of the hub's packages directory (agent packages, SHA256SUMS)",
    responses: { 200: { description: "The file", contentType: "application/octet-stream" } },
    errors: ["invalid_request", "not_found"],
  },
];
