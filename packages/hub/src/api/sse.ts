import type { IncomingMessage, ServerResponse } from "node:http";
import { createSession, type Session } from "better-sse";
import { BadRequestError } from "../errors.js";
import type { HubMetrics } from "../metrics.js";

/** Keep-alive comment interval of every stream, below common proxy idle timeouts. */
const KEEP_ALIVE_MS = 15_000;
/** Reconnect delay suggested to EventSource clients. */
const RETRY_MS = 2_000;

/** Every id a stream sends is a seq: a non-negative decimal integer. */
const SEQ = /^\d{1,16}$/;

function seqOf(value: string, what: string): number {
  const seq = SEQ.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(seq)) {
    throw new BadRequestError(`${what} must be the id of an event of this stream (a non-negative integer), not ${JSON.stringify(value.slice(0, 40))}`);
  }
  return seq;
}

/**
 * Where a stream resumes: after the id the client saw last, or null for a first connection that starts
 * live. `Last-Event-ID` wins over `?after=`, which only says where a first connection starts: an
 * EventSource opened on `…?after=0` sends the id of the last event it got when it reconnects, on the same
 * URL. An empty `Last-Event-ID` is no id (WHATWG clients send none until they got one). Anything that is
 * not an id a stream sends is refused (400), since starting elsewhere would repeat or skip events.
 */
export function resumePoint(req: IncomingMessage, query: URLSearchParams): number | null {
  const named = req.headers["last-event-id"];
  const header = Array.isArray(named) ? named.join(", ") : named;
  if (header !== undefined && header !== "") return seqOf(header, "Last-Event-ID");
  const after = query.get("after");
  return after === null ? null : seqOf(after, "after");
}

/** An open Server-Sent Events stream. */
export interface SseStream {
  session: Session;
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
  async open(req: IncomingMessage, res: ServerResponse, kind: "events" | "fanout"): Promise<SseStream> {
    // Where to resume is the route's to say (resumePoint), not better-sse's.
    const session = await createSession(req, res, { keepAlive: KEEP_ALIVE_MS, retry: RETRY_MS, trustClientEventId: false, headers: { "X-Accel-Buffering": "no" } });
    this.#open.add(res);
    this.metrics.sseClients.inc({ stream: kind });
    const closed = new Promise<void>((resolve) =>
      res.once("close", () => {
        this.#open.delete(res);
        this.metrics.sseClients.dec({ stream: kind });
        resolve();
      }),
    );
    return { session, closed, end: () => res.end() };
  }

  /** Ends every open stream (shutdown). */
  endAll(): void {
    for (const res of this.#open) res.end();
  }
}
