import { z } from "zod";
import { agentAnswerStatus, ERROR_CODES, httpStatus, isAgentErrorCode, type HttpErrorCode } from "./error-codes.js";
import { IDEMPOTENCY_KEY_HEADER, IDEMPOTENT_REPLAYED_HEADER, MAX_IDEMPOTENCY_KEY_CHARS } from "./idempotency.js";
import * as rest from "./rest.js";
import { ErrorBody } from "./rest.js";
import * as restQueries from "./rest-queries.js";
import * as restTokens from "./rest-tokens.js";
import * as restDestinations from "./rest-destinations.js";
import * as restSchedules from "./rest-schedules.js";
import { REST_OPERATIONS, type RestAnswer, type RestOperation } from "./rest-operations.js";
import { SCOPES } from "./rest-tokens.js";

/** The version of the REST API the description states (its paths are under /api/v1). */
export const REST_API_VERSION = "1";
/** The security scheme of every call that needs a token; its required roles are the scope. */
export const TOKEN_SCHEME = "apiToken";

type Json = Record<string, unknown>;

/** Every zod schema the REST modules export, by its export name: the names of components/schemas. */
const REST_SHAPES: Record<string, z.ZodType> = Object.fromEntries(
  Object.entries<unknown>({ ...rest, ...restQueries, ...restTokens, ...restDestinations, ...restSchedules })
    .filter((entry): entry is [string, z.ZodType] => entry[1] instanceof z.ZodType)
    // By name: a module namespace's own order is not the same under every loader.
    .sort(([a], [b]) => a.localeCompare(b)),
);

/** `/api/v1/agents/:id` → `/api/v1/agents/{id}` */
export function openApiPath(path: string): string {
  return path.replace(/:(\w+)/g, "{$1}");
}

type Named = Map<z.ZodType, string>;
const ref = (named: Named, schema: z.ZodType): Json => ({ $ref: `#/components/schemas/${named.get(schema)!}` });

/**
 * JSON Schema (2020-12) of each named shape, referring to the others by `$ref`: requests as they are
 * accepted (`input`), answers as they are sent (`output`, which allows no extra field).
 */
function componentSchemas(named: Named, io: "input" | "output"): Record<string, Json> {
  const registry = z.registry<{ id: string }>();
  for (const [schema, id] of named) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, { target: "draft-2020-12", io, unrepresentable: "any", uri: (id: string) => `#/components/schemas/${id}` });
  return Object.fromEntries(
    Object.entries(schemas as Record<string, Json>).map(([id, schema]) => {
      const { $schema: _dialect, $id: _id, ...rest } = schema;
      return [id, rest];
    }),
  );
}

/** The codes every operation of its kind may answer besides its own. */
function commonErrors(op: RestOperation): HttpErrorCode[] {
  // invalid_request: a request the router cannot read (a malformed URL) is refused on any path.
  const codes: HttpErrorCode[] = ["invalid_request", "internal", "not_ready"];
  if (op.scope !== null) codes.push("unauthorized", "forbidden");
  // A state-changing call made with the console's session cookie must carry the session's X-CSRF-Token.
  if (op.scope !== null && op.method !== "GET") codes.push("csrf_failed");
  if (op.body !== undefined) codes.push("payload_too_large", "unsupported_media_type");
  if (op.method === "POST" && op.idempotent !== false) codes.push("idempotency_in_progress", "idempotency_mismatch");
  return codes;
}

function errorResponses(op: RestOperation): Json {
  const byStatus = new Map<number, HttpErrorCode[]>();
  const add = (status: number, code: HttpErrorCode) => {
    const codes = byStatus.get(status) ?? [];
    if (!codes.includes(code)) byStatus.set(status, [...codes, code]);
  };
  for (const code of commonErrors(op)) add(httpStatus(code), code);
  // An agent's answer has a status of its own (502 but for busy and timeout); `internal` is then both the hub's 500 and an agent's 502.
  for (const code of op.errors ?? []) add(isAgentErrorCode(code) ? agentAnswerStatus(code) : httpStatus(code), code);
  const responses: Json = {};
  for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
    responses[status] = {
      description: codes.map((code) => `\`${code}\`: ${ERROR_CODES[code].message}`).join("\n"),
      ...(status === 429 ? { headers: { "Retry-After": { description: "Seconds to wait.", schema: { type: "integer" } } } } : {}),
      content: { "application/json": { schema: { $ref: "#/components/schemas/ErrorBody" }, "x-error-codes": codes } },
    };
  }
  return responses;
}

function answer(a: RestAnswer, refs: Named): Json {
  if ("json" in a) {
    return {
      description: a.description,
      ...(a.headers === undefined ? {} : { headers: Object.fromEntries(Object.entries(a.headers).map(([name, description]) => [name, { description, schema: { type: "string" } }])) }),
      content: { "application/json": { schema: ref(refs, a.json) } },
    };
  }
  if ("events" in a) {
    const names = Object.keys(a.events);
    return {
      description: `${a.description}. Events: ${names.map((n) => `\`${n}\``).join(", ")}; each event's \`data\` is JSON of the schema \`x-events\` names.`,
      content: {
        "text/event-stream": {
          schema: { type: "string" },
          "x-events": Object.fromEntries(Object.entries(a.events).map(([name, schema]) => [name, ref(refs, schema)])),
        },
      },
    };
  }
  if ("contentType" in a) return { description: a.description, content: { [a.contentType]: { schema: { type: a.contentType === "application/json" ? "object" : "string" } } } };
  return { description: a.description };
}

function operation(op: RestOperation, refs: Named): Json {
  const parameters: Json[] = [...op.path.matchAll(/:(\w+)/g)].map((m) => ({ name: m[1], in: "path", required: true, schema: { type: "string", minLength: 1 } }));
  if (op.query !== undefined) {
    const shape = z.toJSONSchema(op.query, { target: "draft-2020-12", io: "input", unrepresentable: "any" }) as { properties?: Record<string, Json>; required?: string[] };
    for (const [name, { description, ...schema }] of Object.entries(shape.properties ?? {})) {
      parameters.push({
        name,
        in: "query",
        required: shape.required?.includes(name) ?? false,
        ...(description === undefined ? {} : { description }),
        schema,
        ...(schema.type === "array" ? { style: "form", explode: true } : {}),
      });
    }
  }
  for (const [name, description] of Object.entries(op.headers ?? {})) parameters.push({ name, in: "header", required: false, description, schema: { type: "string" } });
  if (op.method === "POST" && op.idempotent !== false) {
    parameters.push({
      name: IDEMPOTENCY_KEY_HEADER,
      in: "header",
      required: false,
      description: `Makes a retry safe: a repeat with the same key, body and token gets the first answer again (with \`${IDEMPOTENT_REPLAYED_HEADER}: true\`) and runs nothing twice.`,
      schema: { type: "string", minLength: 1, maxLength: MAX_IDEMPOTENCY_KEY_CHARS },
    });
  }
  const responses: Json = {};
  for (const [status, a] of Object.entries(op.responses)) responses[status] = answer(a, refs);
  return {
    operationId: op.operationId,
    summary: op.summary,
    ...(op.description === undefined ? {} : { description: op.description }),
    tags: [op.tag],
    security: op.scope === null ? [] : [{ [TOKEN_SCHEME]: [op.scope] }],
    "x-scope": op.scope,
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(op.body === undefined ? {} : { requestBody: { required: true, content: { "application/json": { schema: ref(refs, op.body) } } } }),
    responses: { ...responses, ...errorResponses(op) },
  };
}

/** `agent.health_changed` → `AgentHealthChangedEvent` */
const eventName = (name: string): string => `${name.replace(/(^|[._])(\w)/g, (_m, _sep, c: string) => c.toUpperCase())}Event`;

/**
 * The shapes the description names in components/schemas: the ones the protocol exports under a name
 * (`shapes`), then what an operation uses that has none, named after the operation or the event.
 */
function namedShapes(operations: RestOperation[], shapes: Record<string, z.ZodType>): { answers: Named; requests: Named } {
  const answers: Named = new Map();
  const requests: Named = new Map();
  const names = new Map(Object.entries(shapes).map(([name, schema]) => [schema, name]));
  const name = (into: Named, schema: z.ZodType, fallback: string) => into.has(schema) || into.set(schema, names.get(schema) ?? fallback);
  name(answers, ErrorBody, "ErrorBody");
  // Every exported shape of an answer, so that a union or a wrapper refers to its parts by name.
  for (const [shapeName, schema] of Object.entries(shapes)) if (!/(Request|Query|Targets)$/.test(shapeName)) name(answers, schema, shapeName);
  for (const op of operations) {
    const title = `${op.operationId[0]!.toUpperCase()}${op.operationId.slice(1)}`;
    if (op.body !== undefined) name(requests, op.body, `${title}Request`);
    for (const a of Object.values(op.responses)) {
      if ("json" in a) name(answers, a.json, `${title}Response`);
      if ("events" in a) for (const [event, schema] of Object.entries(a.events)) name(answers, schema, eventName(event));
    }
  }
  return { answers, requests };
}

/**
 * The OpenAPI 3.1 description of the REST API, generated from the zod schemas the hub validates with
 * and answers by. Served at `GET /api/v1/openapi.json` and written to docs/openapi.json by the build.
 */
export function openApiDocument(operations: RestOperation[] = REST_OPERATIONS, shapes: Record<string, z.ZodType> = REST_SHAPES): Json {
  const { answers, requests } = namedShapes(operations, shapes);
  const refs: Named = new Map([...answers, ...requests]);
  const paths: Record<string, Json> = {};
  for (const op of operations) (paths[openApiPath(op.path)] ??= {})[op.method.toLowerCase()] = operation(op, refs);
  const all = { ...componentSchemas(answers, "output"), ...componentSchemas(requests, "input") };
  const schemas = Object.fromEntries(Object.entries(all).sort(([a], [b]) => a.localeCompare(b)));
  return {
    openapi: "3.1.0",
    info: {
      title: "Uplink hub REST API",
      version: REST_API_VERSION,
      description:
        "Query the agents of an Uplink fleet. Every call but the public ones takes `Authorization: Bearer <token>` (or the web console's session cookie, `POST /api/v1/session`, with `X-CSRF-Token` on every call but GET); a token's scope includes the ones before it (" +
        SCOPES.join(" < ") +
        "). Errors are `{\"error\": {code, message}}`; each error answer lists its codes in `x-error-codes`.",
      license: { name: "MIT", identifier: "MIT" },
    },
    tags: [...new Set(operations.map((op) => op.tag))].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: {
        [TOKEN_SCHEME]: {
          type: "http",
          scheme: "bearer",
          description: `An API token \`<id>.<secret>\` (\`POST /api/v1/tokens\`). The roles an operation lists are the scope it needs: ${SCOPES.join(", ")}, each including the ones before it.`,
        },
      },
      schemas,
    },
  };
}
