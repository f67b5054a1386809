import { randomUUID } from "node:crypto";
import { createParser } from "eventsource-parser";
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

/** A thin client of the hub's REST API v1. */
export class ApiClient {
  readonly #base: string;
  readonly #token: string;

  constructor(hubUrl: string, token: string) {
    this.#base = hubUrl.replace(/\/+$/, "");
    this.#token = token;
  }

  /**
   * One REST call. A POST carries a fresh `Idempotency-Key` and is retried with that same key when no
   * answer arrived or the answer is a transient failure (see retry.ts): the hub runs it at most once.
   */
  async request<T>(method: "GET" | "POST" | "DELETE", path: string, body?: unknown): Promise<{ data: T; correlationId: string | null }> {
    if (method !== "POST") return this.#requestOnce<T>(method, path, body, {});
    const headers = { "Idempotency-Key": randomUUID() };
    return withRetries(
      () => this.#requestOnce<T>(method, path, body, headers),
      (err) => (err instanceof ApiError ? err.failure : undefined),
    );
  }

  async #requestOnce<T>(method: string, path: string, body: unknown, extra: Record<string, string>): Promise<{ data: T; correlationId: string | null }> {
    let res: Response;
    try {
      res = await fetch(`${this.#base}${path}`, {
        method,
        headers: { Authorization: `Bearer ${this.#token}`, ...extra, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw new ApiError(0, "unreachable", `cannot reach the hub at ${this.#base}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`);
    }
    const correlationId = res.headers.get("x-correlation-id");
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw new ApiError(0, "unreachable", `the connection to the hub at ${this.#base} broke mid-answer: ${(err as Error).message}`);
    }
    const json = text.length > 0 ? safeJson(text) : undefined;
    if (!res.ok) {
      const error = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ApiError(res.status, error?.code ?? `http_${res.status}`, error?.message ?? `${res.status} ${res.statusText}`, correlationId, error?.code !== undefined);
    }
    return { data: json as T, correlationId };
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
