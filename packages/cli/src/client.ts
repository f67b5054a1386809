import { randomUUID } from "node:crypto";
import { IDEMPOTENCY_KEY_HEADER } from "@uplink/protocol";
import { createParser } from "eventsource-parser";
import createClient, { type Client } from "openapi-fetch";
import type { components, operations, paths } from "./api-types.js";
import { withRetries, type Failure } from "./retry.js";

/** An error the hub answered (`{"error": {code, message}}`) or a failure to reach it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly correlationId: string | null = null,
    /** False when the answer carried no error code of the hub's (`code` is then `http_<status>`). */
    readonly fromHub = true,
  ) {
    super(message);
    this.name = "ApiError";
  }

  /** What the retry policy and the exit code read: the status, and the code only when it is the hub's. */
  get failure(): Failure {
    return { status: this.status, code: this.fromHub ? this.code : undefined };
  }
}

/** One Server-Sent Event as the client reads it. */
export interface StreamEvent {
  event: string;
  id: string | undefined;
  data: string;
}

/** The REST API's shapes, as the types generated from its OpenAPI description (api-types.ts). */
export type Schemas = components["schemas"];

/** What an openapi-fetch call resolves with: the typed body on success, the error body otherwise. */
interface Answer<D> {
  data?: D;
  error?: unknown;
  response: Response;
}

type Fetch = (request: Request) => Promise<Response>;

/** A caller's answer: the body and the `X-Correlation-Id` the hub sent with it. */
export interface Answered<D> {
  data: D;
  correlationId: string | null;
}

/**
 * A client of the hub's REST API v1, typed by the OpenAPI description (openapi-fetch over the types
 * openapi-typescript generates from docs/openapi.json): a path, a parameter or a body the description
 * does not have does not compile.
 */
export class ApiClient {
  readonly #base: string;
  readonly #token: string;
  readonly #api: Client<paths>;

  constructor(hubUrl: string, token: string) {
    this.#base = hubUrl.replace(/\/+$/, "");
    this.#token = token;
    this.#api = createClient<paths>({ baseUrl: this.#base, headers: { Authorization: `Bearer ${token}` } });
  }

  listAgents(query: NonNullable<operations["listAgents"]["parameters"]["query"]>): Promise<Answered<Schemas["AgentList"]>> {
    return this.#once((fetch) => this.#api.GET("/api/v1/agents", { params: { query }, fetch }));
  }

  getAgent(id: string): Promise<Answered<Schemas["AgentView"]>> {
    return this.#once((fetch) => this.#api.GET("/api/v1/agents/{id}", { params: { path: { id } }, fetch }));
  }

  listQueries(query: NonNullable<operations["listQueries"]["parameters"]["query"]>): Promise<Answered<Schemas["HistoryPage"]>> {
    return this.#once((fetch) => this.#api.GET("/api/v1/queries", { params: { query }, fetch }));
  }

  /** A fan-out (`fan_…`) with its targets, or one command's audit row. */
  getQuery(id: string): Promise<Answered<Schemas["GetQueryResponse"]>> {
    return this.#once((fetch) => this.#api.GET("/api/v1/queries/{id}", { params: { path: { id } }, fetch }));
  }

  queryAgent(id: string, body: Schemas["AgentQueryRequest"]): Promise<Answered<Schemas["QueryAnswer"]>> {
    return this.#post((headers, fetch) => this.#api.POST("/api/v1/agents/{id}/query", { params: { path: { id } }, body, headers, fetch }));
  }

  startFanout(body: Schemas["FanoutRequest"]): Promise<Answered<Schemas["FanoutStarted"]>> {
    return this.#post((headers, fetch) => this.#api.POST("/api/v1/queries", { body, headers, fetch }));
  }

  listDestinations(): Promise<Answered<Schemas["DestinationList"]>> {
    return this.#once((fetch) => this.#api.GET("/api/v1/destinations", { fetch }));
  }

  createDestination(body: Schemas["DestinationRequest"]): Promise<Answered<Schemas["DestinationView"]>> {
    return this.#post((headers, fetch) => this.#api.POST("/api/v1/destinations", { body, headers, fetch }));
  }

  async deleteDestination(id: string): Promise<void> {
    await this.#once((fetch) => this.#api.DELETE("/api/v1/destinations/{id}", { params: { path: { id } }, fetch }));
  }

  /** Cancels a running fan-out; answers its view once it ended. */
  cancelFanout(id: string): Promise<Answered<Schemas["FanoutView"]>> {
    return this.#post((headers, fetch) => this.#api.POST("/api/v1/queries/{id}/cancel", { params: { path: { id } }, headers, fetch }));
  }

  listSchedules(): Promise<Answered<Schemas["ScheduleList"]>> {
    return this.#once((fetch) => this.#api.GET("/api/v1/schedules", { fetch }));
  }

  getSchedule(id: string): Promise<Answered<Schemas["ScheduleView"]>> {
    return this.#once((fetch) => this.#api.GET("/api/v1/schedules/{id}", { params: { path: { id } }, fetch }));
  }

  createSchedule(body: Schemas["ScheduleRequest"]): Promise<Answered<Schemas["ScheduleView"]>> {
    return this.#post((headers, fetch) => this.#api.POST("/api/v1/schedules", { body, headers, fetch }));
  }

  updateSchedule(id: string, body: Schemas["SchedulePatch"]): Promise<Answered<Schemas["ScheduleView"]>> {
    return this.#once((fetch) => this.#api.PATCH("/api/v1/schedules/{id}", { params: { path: { id } }, body, fetch }));
  }

  async deleteSchedule(id: string): Promise<void> {
    await this.#once((fetch) => this.#api.DELETE("/api/v1/schedules/{id}", { params: { path: { id } }, fetch }));
  }

  listScheduleResults(id: string, query: NonNullable<operations["listScheduleResults"]["parameters"]["query"]>): Promise<Answered<Schemas["ScheduleResults"]>> {
    return this.#once((fetch) => this.#api.GET("/api/v1/schedules/{id}/results", { params: { path: { id }, query }, fetch }));
  }

  listPolicies(): Promise<Answered<Schemas["PolicyList"]>> {
    return this.#once((fetch) => this.#api.GET("/api/v1/policies", { fetch }));
  }

  getPolicy(id: string): Promise<Answered<Schemas["PolicyDetail"]>> {
    return this.#once((fetch) => this.#api.GET("/api/v1/policies/{id}", { params: { path: { id } }, fetch }));
  }

  createPolicy(body: Schemas["PolicyRequest"]): Promise<Answered<Schemas["PolicyView"]>> {
    return this.#post((headers, fetch) => this.#api.POST("/api/v1/policies", { body, headers, fetch }));
  }

  updatePolicy(id: string, body: Schemas["PolicyPatch"]): Promise<Answered<Schemas["PolicyView"]>> {
    return this.#once((fetch) => this.#api.PATCH("/api/v1/policies/{id}", { params: { path: { id } }, body, fetch }));
  }

  async deletePolicy(id: string): Promise<void> {
    await this.#once((fetch) => this.#api.DELETE("/api/v1/policies/{id}", { params: { path: { id } }, fetch }));
  }

  /**
   * A POST carries a fresh `Idempotency-Key` and is retried with that same key when no answer arrived
   * or the answer is a transient failure (see retry.ts): the hub runs it at most once.
   */
  #post<D>(send: (headers: Record<string, string>, fetch: Fetch) => Promise<Answer<D>>): Promise<Answered<D>> {
    const headers = { [IDEMPOTENCY_KEY_HEADER]: randomUUID() };
    return withRetries(
      () => this.#once((fetch) => send(headers, fetch)),
      (err) => (err instanceof ApiError ? err.failure : undefined),
    );
  }

  /** One attempt: an answer that is not a success becomes an ApiError (status 0 when none arrived). */
  async #once<D>(send: (fetch: Fetch) => Promise<Answer<D>>): Promise<Answered<D>> {
    let answered = false;
    const fetchOnce: Fetch = async (request) => {
      const res = await fetch(request);
      answered = true;
      return res;
    };
    let answer: Answer<D>;
    try {
      answer = await send(fetchOnce);
    } catch (err) {
      const cause = (err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message;
      throw new ApiError(0, "unreachable", answered ? `the connection to the hub at ${this.#base} broke mid-answer: ${(err as Error).message}` : `cannot reach the hub at ${this.#base}: ${cause}`);
    }
    const { response } = answer;
    const correlationId = response.headers.get("x-correlation-id");
    if (!response.ok) {
      const error = (answer.error as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ApiError(response.status, error?.code ?? `http_${response.status}`, error?.message ?? `${response.status} ${response.statusText}`, correlationId, error?.code !== undefined);
    }
    return { data: answer.data as D, correlationId };
  }

  /**
   * Reads a Server-Sent Events stream until the server ends it or `signal` aborts; resolves with the
   * last event id seen (to resume with `Last-Event-ID`). Rejects with ApiError on a refused request.
   */
  async stream(
    path: string,
    options: { lastEventId?: string | undefined; signal?: AbortSignal | undefined },
    onEvent: (event: StreamEvent) => void,
  ): Promise<string | undefined> {
    let lastId = options.lastEventId;
    let res: Response;
    try {
      res = await fetch(`${this.#base}${path}`, {
        headers: { Authorization: `Bearer ${this.#token}`, Accept: "text/event-stream", ...(lastId === undefined ? {} : { "Last-Event-ID": lastId }) },
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (err) {
      if (options.signal?.aborted) return lastId;
      throw new ApiError(0, "unreachable", `cannot reach the hub at ${this.#base}: ${(err as Error).message}`);
    }
    // 204: the stream is over (a fan-out's result stream asked to resume after its `done`).
    if (res.status === 204) return lastId;
    if (!res.ok || res.body === null) {
      const json = safeJson(await res.text()) as { error?: { code?: string; message?: string } } | undefined;
      throw new ApiError(res.status, json?.error?.code ?? `http_${res.status}`, json?.error?.message ?? res.statusText);
    }
    const parser = createParser({
      onEvent: (message) => {
        if (message.id !== undefined) lastId = message.id;
        onEvent({ event: message.event ?? "message", id: message.id, data: message.data });
      },
    });
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
    } catch (err) {
      if (!options.signal?.aborted) throw new ApiError(0, "unreachable", `the stream from the hub broke: ${(err as Error).message}`);
    }
    return lastId;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
