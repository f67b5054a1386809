import type { IncomingMessage, ServerResponse } from "node:http";
import { gzip } from "node:zlib";
import { checkFrameShape, describeIssues } from "@uplink/protocol";
import type { z } from "zod";
import { BadRequestError, HubError, PayloadTooLargeError, RateLimitedError } from "../errors.js";

/** JSON answers from this size up are sent gzip-compressed to a GET that accepts it. */
export const COMPRESS_MIN_BYTES = 16 * 1024;
/** zlib level of those answers: most of the gain of level 6 (JSON repeats itself) at a fraction of its time. */
const COMPRESS_LEVEL = 4;

/**
 * Writes a JSON response. A large answer to a GET whose Accept-Encoding allows gzip (a list of thousands
 * of agents) is compressed, off the event loop; small answers, the single-query hot path among them, are
 * written as they are. Answers to other methods never are: an idempotent POST's answer is stored as text
 * before it is sent (stored-response.ts).
 */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendJsonText(res, status, JSON.stringify(body), headers);
}

/** {@link sendJson} of a body already made into JSON text (a query's answer, around its result's JSON). */
export function sendJsonText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  const req = res.req as IncomingMessage | undefined;
  if (text.length >= COMPRESS_MIN_BYTES && req?.method === "GET" && acceptsGzip(req)) {
    gzip(text, { level: COMPRESS_LEVEL }, (err, zipped) => {
      if (err !== null) return res.destroy(err);
      res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Content-Encoding": "gzip", Vary: "Accept-Encoding", "Content-Length": zipped.length, ...headers });
      res.end(zipped);
    });
    return;
  }
  res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Content-Length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** True when the request accepts gzip (named, or `*`). */
function acceptsGzip(req: IncomingMessage): boolean {
  const accepted = acceptedEncodings(req.headers["accept-encoding"]);
  return accepted.has("gzip") || accepted.has("*");
}

/** The content codings a request accepts (q > 0), from its Accept-Encoding. */
export function acceptedEncodings(header: string | string[] | undefined): Set<string> {
  const accepted = new Set<string>();
  for (const part of (Array.isArray(header) ? header.join(",") : (header ?? "")).split(",")) {
    const [name, ...params] = part.trim().toLowerCase().split(";");
    const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)).find((m) => m !== null);
    if (name !== undefined && name !== "" && (q === undefined || Number(q[1]) > 0)) accepted.add(name);
  }
  return accepted;
}

/** Writes `{"error": {code, message}}` with the error's status. */
export function sendError(res: ServerResponse, error: HubError, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (error instanceof RateLimitedError) headers = { ...headers, "Retry-After": String(error.retryAfterS) };
  sendJson(res, error.status, { error: { code: error.code, message: error.message } }, headers);
}

/**
 * Reads and validates a JSON body: 415 unless JSON, 413 past `limit` bytes (counted as they arrive,
 * so a huge body is never buffered), 400 when it is not JSON or fails the schema (the message names
 * the field), and 400 unparsed when its shape would stall the event loop in `JSON.parse` (deep nesting,
 * very many keys: `checkFrameShape`), since `POST /api/v1/enroll` reads a body before any credential.
 */
export async function readJson<S extends z.ZodType>(req: IncomingMessage, schema: S, limit: number): Promise<z.output<S>> {
  const type = req.headers["content-type"];
  if (type !== undefined && !/^application\/json\b/i.test(type)) {
    throw HubError.of("unsupported_media_type", "request body must be application/json");
  }
  const body = await readBody(req, limit);
  const text = body.toString("utf8");
  const refusal = checkFrameShape(text);
  if (refusal !== undefined) throw new BadRequestError(`request body ${refusal.error}`);
  let value: unknown;
  try {
    value = body.length === 0 ? {} : JSON.parse(text);
  } catch {
    throw new BadRequestError("request body is not valid JSON");
  }
  return parseWith(schema, value, "body");
}

/** Bodies already read, so that a wrapper (idempotency) and the handler can both read one. */
const bodies = new WeakMap<IncomingMessage, Promise<Buffer>>();

/**
 * Reads a request body once (later calls answer the same bytes): 413 past `limit` bytes, counted as they
 * arrive, so a huge body is never buffered.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  let body = bodies.get(req);
  if (body === undefined) {
    body = collectBody(req, limit);
    bodies.set(req, body);
  }
  return body;
}

/**
 * The body's bytes, read with `data` and `end` listeners: a request's async iterator cost ~8 µs on the
 * query hot path (issue 15). Past `limit`, the request is destroyed (as the iterator did when left), so
 * the rest of a huge body is never read.
 */
function collectBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > limit) return reject(new PayloadTooLargeError(limit));
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (): void => {
      req.off("data", onData).off("end", onEnd).off("error", onError).off("close", onClose);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      done();
      req.destroy();
      reject(new PayloadTooLargeError(limit));
    };
    const onEnd = (): void => {
      done();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    };
    const onError = (err: Error): void => {
      done();
      reject(err);
    };
    // Closed before its end: the caller went away mid-body (the iterator rejected with a premature close).
    const onClose = (): void => {
      done();
      reject(Object.assign(new Error("the request closed before its body ended"), { code: "ERR_STREAM_PREMATURE_CLOSE" }));
    };
    req.on("data", onData).on("end", onEnd).on("error", onError).on("close", onClose);
  });
}

/** Validates `value` (a body or a query string); a failure is a 400 naming the field. */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, where: "body" | "query"): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new BadRequestError(`invalid ${where}: ${describeIssues(parsed.error)}`);
  return parsed.data;
}
