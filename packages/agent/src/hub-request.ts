import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";

/** A JSON answer: its status and its parsed body (undefined when empty or not JSON). */
export interface JsonAnswer {
  status: number;
  body: unknown;
}

export interface PostJsonOptions {
  /** The CAs to verify an `https://` hub against (see `loadTrust`); Node's defaults when undefined. */
  ca?: string[] | undefined;
  timeoutMs: number;
}

/** Largest answer read from the hub; enrollment answers are a few hundred bytes. */
const MAX_ANSWER_BYTES = 1024 * 1024;

/**
 * POSTs `body` as JSON to `url` (http or https) and resolves with the answer. `node:http(s)` rather than
 * `fetch`, because only they take a `ca` for a hub signed by a private CA. Rejects with the socket's own
 * error (its `code` tells a refused connection from a certificate failure) or a timeout. Each request has a
 * connection of its own (no keep-alive pool): a pooled socket to a hub since restarted at the same address,
 * perhaps with another certificate, would fail with a reset instead of the hub's real answer.
 */
export function postJson(url: string, body: unknown, options: PostJsonOptions): Promise<JsonAnswer> {
  const text = JSON.stringify(body);
  const target = new URL(url);
  const request = target.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      {
        method: "POST",
        agent: false,
        headers: { "content-type": "application/json", accept: "application/json", "content-length": Buffer.byteLength(text) },
        ...(options.ca !== undefined && target.protocol === "https:" ? { ca: options.ca } : {}),
        timeout: options.timeoutMs,
      },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES) req.destroy(new Error(`the hub's answer exceeds ${MAX_ANSWER_BYTES} bytes`));
          else chunks.push(chunk);
        });
        res.on("error", reject);
        res.on("end", () => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString("utf8"));
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${options.timeoutMs} ms`)));
    req.on("error", reject);
    req.end(text);
  });
}
