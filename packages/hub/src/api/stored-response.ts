import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from "node:crypto";
import type { ServerResponse } from "node:http";
import { isTransientFailure } from "@uplink/protocol";
import { z } from "zod";

/** A response as a route handler wrote it: what an idempotent repeat is answered with. */
export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const StoredResponseSchema = z.object({ status: z.number().int(), headers: z.record(z.string(), z.string()), body: z.string() });

/**
 * Holds back what a handler writes (it answers with one `writeHead` and `end`, as `sendJson` and
 * `sendError` do), so the response can be stored before the client sees it: a client that got an
 * answer can always get the same answer again. `release()` puts the real methods back.
 */
export function captureResponse(res: ServerResponse): { captured(): StoredResponse | undefined; release(): void } {
  let status: number | undefined;
  let headers: Record<string, string> = {};
  const chunks: string[] = [];
  const collect = (chunk: unknown): void => {
    if (typeof chunk === "string") chunks.push(chunk);
    else if (chunk instanceof Uint8Array) chunks.push(Buffer.from(chunk).toString("utf8"));
  };
  const target = res as unknown as Record<string, unknown>;
  target.writeHead = (code: number, a?: unknown, b?: unknown) => {
    status = code;
    const given = typeof a === "object" && a !== null ? a : typeof b === "object" && b !== null ? b : {};
    headers = Object.fromEntries(Object.entries(given as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
    return res;
  };
  target.write = (chunk: unknown) => {
    collect(chunk);
    return true;
  };
  target.end = (chunk?: unknown) => {
    collect(chunk);
    status ??= 200;
    return res;
  };
  return {
    captured: () => (status === undefined ? undefined : { status, headers, body: chunks.join("") }),
    release: () => {
      // The own properties shadowed the prototype's methods; deleting them restores those.
      delete target.writeHead;
      delete target.write;
      delete target.end;
    },
  };
}

/** Writes a stored (or captured) response, with `extra` headers on top. */
export function sendStored(res: ServerResponse, response: StoredResponse, extra: Record<string, string> = {}): void {
  const headers: Record<string, string> = { ...response.headers, ...extra };
  for (const name of Object.keys(headers)) if (name.toLowerCase() === "content-length") delete headers[name];
  res.writeHead(response.status, { ...headers, "Content-Length": String(Buffer.byteLength(response.body)) });
  res.end(response.body);
}

/**
 * True when a response is the request's final answer, to be replayed to every repeat of its key; false
 * when a repeat should run the request again:
 * - kept: 2xx, and the outcomes of a command that was sent — 409 (the agent was offline), 502 carrying the
 *   agent's own error (`query_failed`, …), 504 (its deadline passed);
 * - not kept: refusals before any work (400, 401, 403, 404, 413, 415, 429: a corrected repeat must run),
 *   and transient failures (503, a 502 naming a transport failure, 500): a retry may succeed.
 * - not kept either: a 502 `cancelled` — the command was cancelled because its caller went away, so nobody
 *   got that answer, and a retry (the caller coming back) must run the command rather than replay a cancel.
 * Stripe keeps every executed request's result, 500s included; the IETF draft leaves it open. Here a retry
 * with the same key after a transient failure is exactly what the CLI does, so such answers are not final.
 */
export function isFinalResponse(response: StoredResponse): boolean {
  const { status } = response;
  if (status < 400) return true;
  if (status === 409 || status === 504) return true;
  if (status === 502) {
    const code = errorCodeOf(response.body);
    return code !== "cancelled" && !isTransientFailure(status, code);
  }
  return false;
}

function errorCodeOf(body: string): string | undefined {
  try {
    const code = (JSON.parse(body) as { error?: { code?: unknown } }).error?.code;
    return typeof code === "string" ? code : undefined;
  } catch {
    return undefined;
  }
}

/**
 * sha256 over the method, the path and the body: the body as canonical JSON (object keys sorted, no
 * whitespace) when it parses, so `{"a":1,"b":2}` and `{ "b": 2, "a": 1 }` are the same request; else its bytes.
 */
export function requestFingerprint(method: string, path: string, raw: Buffer, body: unknown): string {
  const hash = createHash("sha256").update(`${method}\n${path}\n`);
  if (body === undefined) hash.update(raw);
  else hash.update(canonicalJson(body));
  return hash.digest("hex");
}

/** JSON with object keys in sorted order, recursively. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(",")}}`;
  }
  return JSON.stringify(value);
}

/**
 * Seals a response for the store with AES-256-GCM under a key derived from the requester's secret (the
 * bearer token's, or the enrollment token's) and the idempotency key. A stored response can hold a secret
 * shown once (a new token, an agent key); the store keeps secrets only as hashes, so it keeps these only
 * in a form that nobody but the holder of the credential that asked can open.
 */
export function sealResponse(response: StoredResponse, secret: string, idempotencyKey: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", sealKey(secret, idempotencyKey), iv);
  cipher.setAAD(Buffer.from(idempotencyKey, "utf8"));
  const sealed = Buffer.concat([cipher.update(JSON.stringify(response), "utf8"), cipher.final()]);
  return ["v1", iv.toString("base64"), cipher.getAuthTag().toString("base64"), sealed.toString("base64")].join(".");
}

/** Opens what {@link sealResponse} made; undefined when the secret or key differs or the text is damaged. */
export function openResponse(sealed: string, secret: string, idempotencyKey: string): StoredResponse | undefined {
  const [version, iv, tag, data] = sealed.split(".");
  if (version !== "v1" || iv === undefined || tag === undefined || data === undefined) return undefined;
  try {
    const decipher = createDecipheriv("aes-256-gcm", sealKey(secret, idempotencyKey), Buffer.from(iv, "base64"), { authTagLength: 16 });
    decipher.setAAD(Buffer.from(idempotencyKey, "utf8"));
    decipher.setAuthTag(Buffer.from(tag, "base64"));
    const text = Buffer.concat([decipher.update(Buffer.from(data, "base64")), decipher.final()]).toString("utf8");
    const parsed = StoredResponseSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function sealKey(secret: string, idempotencyKey: string): Buffer {
  return createHmac("sha256", secret).update(`uplink-idempotency\0${idempotencyKey}`).digest();
}
