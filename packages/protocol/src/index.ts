export * from "./constants.js";
export * from "./error-codes.js";
export {
  CorrelationId,
  SessionId,
  CommandKind,
  Welcome,
  SessionCommand,
  type SessionCommandFrame,
  Cancel,
  type HubToAgent,
  type HubToAgentType,
  HUB_TO_AGENT_SCHEMAS,
} from "./hub-messages.js";
export { Hello, SessionResponse, Labels, MAX_LABELS, type AgentToHub, type AgentToHubType, AGENT_TO_HUB_SCHEMAS } from "./agent-messages.js";
export { LEGACY_REPLY_SHAPES, LEGACY_REPLY_SHAPE_LIST, LEGACY_ERROR_CODE, REPLY_ENVELOPE_FIELDS, type LegacyReplyShape } from "./legacy-reply.js";
export { Cell, QueryResult, HealthStatus, HealthResult } from "./results.js";
export { buildResponse, commandRef, type CommandRef, type Outcome, type SessionResponseFrame } from "./response.js";
export { checkFrameShape, type ShapeRefusal, type ShallowFields } from "./frame-shape.js";
export { parseHubToAgent, parseAgentToHub, describeIssues, type ParsedFrame, type DispatchTable } from "./frames.js";
export * from "./rest.js";
export * from "./rest-queries.js";
export * from "./rest-tokens.js";
export * from "./rest-console.js";
export * from "./rest-destinations.js";
export * from "./rest-schedules.js";
export { parseDuration, DURATION_EXAMPLES } from "./duration.js";
export * from "./rest-operations.js";
export { openApiDocument, openApiPath, REST_API_VERSION, TOKEN_SCHEME } from "./openapi.js";
export { printable, renderTable } from "./display.js";
export {
  IDEMPOTENCY_KEY_HEADER,
  IDEMPOTENT_REPLAYED_HEADER,
  MAX_IDEMPOTENCY_KEY_CHARS,
  TRANSPORT_ERROR_CODES,
  idempotencyKeyProblem,
  isTransientFailure,
} from "./idempotency.js";
export { buildCancel, buildCommand, buildWelcome, type CommandFields } from "./hub-frames.js";
