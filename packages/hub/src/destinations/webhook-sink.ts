import { createHash, createHmac } from "node:crypto";
import { IDEMPOTENCY_KEY_HEADER, SIGNATURE_HEADER, SIGNATURE_PREFIX } from "@uplink/protocol";
import type { HubEventRecord } from "../store/store.js";
import type { Sink } from "./sink.js";

/** `sha256=<hex HMAC-SHA256 of body with secret>`: the value of the Uplink-Signature header. */
export function signBody(body: Uint8Array, secret: string): string {
  return SIGNATURE_PREFIX + createHmac("sha256", secret).update(body).digest("hex");
}

/** What the API shows of a webhook's secret: enough to tell two apart, nothing to sign with. */
export function secretFingerprint(secret: string): string {
  return `sha256:${createHash("sha256").update(secret).digest("hex").slice(0, 16)}`;
}

/** The Idempotency-Key of one event to one destination: the same on every attempt, by any replica. */
export function deliveryKey(destinationId: string, seq: number): string {
  return `${destinationId}.${seq}`;
}

/**
 * The bytes a destination receives for one event (the webhook's body, the file's line without its newline): a
 * DeliveredEvent (protocol), its data exactly as `GET /api/v1/events` streams it (`at` the time it was stored).
 */
export function deliveredBody(event: HubEventRecord): Buffer {
  return Buffer.from(JSON.stringify({ id: event.seq, type: event.type, data: { ...event.data, at: new Date(event.createdAt).toISOString() } }));
}

/**
 * POSTs one event per call, signed with the destination's secret. 2xx is delivered; any other status
 * (a redirect included: it is not followed), a network error or the timeout throws, and the caller
 * retries the same event.
 */
export class WebhookSink implements Sink {
  readonly batchSize = 1;
  readonly #destinationId: string;
  readonly #url: string;
  readonly #secret: string;
  readonly #timeoutMs: number;

  constructor(opts: { destinationId: string; url: string; secret: string; timeoutMs: number }) {
    this.#destinationId = opts.destinationId;
    this.#url = opts.url;
    this.#secret = opts.secret;
    this.#timeoutMs = opts.timeoutMs;
  }

  async deliver(events: HubEventRecord[], signal: AbortSignal): Promise<void> {
    for (const event of events) await this.#post(event, signal);
  }

  async #post(event: HubEventRecord, signal: AbortSignal): Promise<void> {
    const body = deliveredBody(event);
    let res: Response;
    try {
      res = await fetch(this.#url, {
        method: "POST",
        body,
        redirect: "manual",
        signal: AbortSignal.any([signal, AbortSignal.timeout(this.#timeoutMs)]),
        headers: {
          "content-type": "application/json",
          [SIGNATURE_HEADER]: signBody(body, this.#secret),
          [IDEMPOTENCY_KEY_HEADER]: deliveryKey(this.#destinationId, event.seq),
          "user-agent": "uplink-hub",
        },
      });
    } catch (err) {
      if ((err as Error).name === "TimeoutError") throw new Error(`no answer within ${this.#timeoutMs} ms`);
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new Error(`request failed: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
    }
    // The answer's body is not read: whatever its size, the connection is released.
    await res.body?.cancel().catch(() => undefined);
    if (res.status < 200 || res.status > 299) throw new Error(`answered ${res.status}`);
  }
}
