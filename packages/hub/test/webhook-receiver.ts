/**
 * A webhook receiver on 127.0.0.1 for delivery tests: it answers each request as scripted (a status, or a
 * dropped connection), records every request, verifies each signature with its own HMAC (not the
 * hub's code), and deduplicates what it accepted by Idempotency-Key, as a real receiver would.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export interface ReceivedEvent {
  id: number;
  type: string;
  data: Record<string, unknown>;
}

export interface WebhookRequest {
  key: string | undefined;
  contentType: string | undefined;
  /** The signature matched the body's HMAC-SHA256 with the receiver's secret. */
  signed: boolean;
  event: ReceivedEvent;
  /** What the receiver answered: a status, or `drop` (the connection was destroyed unanswered). */
  answer: number | "drop";
}

/** How the receiver answers the next requests, in order; once used up, 200. */
export type Answer = number | "drop";

export class WebhookReceiver {
  readonly requests: WebhookRequest[] = [];
  /** Each event the receiver accepted (2xx), once per Idempotency-Key, in the order first accepted. */
  readonly accepted: ReceivedEvent[] = [];
  readonly #keys = new Set<string>();
  readonly #sockets = new Set<Socket>();
  /** Scripted answers still to give. */
  script: Answer[] = [];
  url = "";

  private constructor(
    readonly secret: string,
    readonly server: Server,
  ) {}

  static async start(secret: string, script: Answer[] = []): Promise<WebhookReceiver> {
    let receiver!: WebhookReceiver;
    const server = createServer((req, res) => {
      void receiver.#handle(req).then((answer) => {
        if (answer === "drop") req.socket.destroy();
        else res.writeHead(answer, { "content-type": "text/plain" }).end(answer < 300 ? "ok" : "no");
      });
    });
    receiver = new WebhookReceiver(secret, server);
    receiver.script = script;
    server.on("connection", (socket) => {
      receiver.#sockets.add(socket);
      socket.on("close", () => receiver.#sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    return receiver;
  }

  /** Requests that arrived, answered or not. */
  get attempts(): number {
    return this.requests.length;
  }

  /** Idempotency-Keys seen more than once among accepted requests (redeliveries at least once allows). */
  get duplicates(): number {
    return this.requests.filter((r) => r.answer !== "drop" && r.answer < 300).length - this.accepted.length;
  }

  async #handle(req: IncomingMessage): Promise<Answer> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const expected = Buffer.from(`sha256=${createHmac("sha256", this.secret).update(body).digest("hex")}`);
    const given = Buffer.from(String(req.headers["uplink-signature"] ?? ""));
    const signed = given.length === expected.length && timingSafeEqual(given, expected);
    const key = req.headers["idempotency-key"] as string | undefined;
    const event = JSON.parse(body.toString("utf8")) as ReceivedEvent;
    const answer = this.script.shift() ?? 200;
    this.requests.push({ key, contentType: req.headers["content-type"], signed, event, answer });
    if (answer !== "drop" && answer < 300 && key !== undefined && !this.#keys.has(key)) {
      this.#keys.add(key);
      this.accepted.push(event);
    }
    return answer;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Whether, for each value of `field` in the events' data, the events carrying it come in increasing id. */
export function inOrderPer(events: ReceivedEvent[], field: string): boolean {
  const last = new Map<unknown, number>();
  for (const e of events) {
    const group = e.data[field];
    if ((last.get(group) ?? -Infinity) >= e.id) return false;
    last.set(group, e.id);
  }
  return true;
}
