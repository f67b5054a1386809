import type { IncomingMessage, ServerResponse } from "node:http";
import { createSession, type Session } from "better-sse";
import type { HubMetrics } from "../metrics.js";

/** Keep-alive comment interval of every stream, below common proxy idle timeouts. */
const KEEP_ALIVE_MS = 15_000;
/** Reconnect delay suggested to EventSource clients. */
const RETRY_MS = 2_000;

/** An open Server-Sent Events stream and the id the client said it saw last (`Last-Event-ID` or `?after=`). */
export interface SseStream {
  session: Session;
  /** Null when the client named none (a first connection). */
  lastEventId: number | null;
  /** Resolves when the client goes away or the hub closes the stream. */
  closed: Promise<void>;
  end(): void;
}

/**
 * Every open stream of the hub, so shutdown can end them instead of waiting on them, and a gauge of
 * how many there are by kind.
 */
export class SseStreams {
  readonly #open = new Set<ServerResponse>();

  constructor(private readonly metrics: HubMetrics) {}

  /** Opens a stream on `res` (better-sse writes the head and keeps it alive). */
  async open(req: IncomingMessage, res: ServerResponse, kind: "events" | "fanout", query: URLSearchParams): Promise<SseStream> {
    const session = await createSession(req, res, { keepAlive: KEEP_ALIVE_MS, retry: RETRY_MS, headers: { "X-Accel-Buffering": "no" } });
    const named = query.get("after") ?? (session.lastId === "" ? null : session.lastId);
    const after = named === null ? Number.NaN : Number(named);
    this.#open.add(res);
    this.metrics.sseClients.inc({ stream: kind });
    const closed = new Promise<void>((resolve) =>
      res.once("close", () => {
        this.#open.delete(res);
        this.metrics.sseClients.dec({ stream: kind });
        resolve();
      }),
    );
    return { session, lastEventId: Number.isSafeInteger(after) && after >= 0 ? after : null, closed, end: () => res.end() };
  }

  /** Ends every open stream (shutdown). */
  endAll(): void {
    for (const res of this.#open) res.end();
  }
}
