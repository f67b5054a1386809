import { BadRequestError } from "../../errors.js";
import type { HubEventRecord } from "../../store/store.js";
import type { Route } from "../route.js";
import type { ApiServices } from "../services.js";
import { resumePoint } from "../sse.js";

/** Events replayed per store read. */
const REPLAY_PAGE = 1000;

/**
 * `GET /api/v1/events`: hub events as Server-Sent Events, each with its seq as id. A client that
 * reconnects with `Last-Event-ID` (which wins over `?after=<seq>`, the starting point of a first
 * connection) first gets what it missed from the bounded log, then live events, with no duplicates and
 * no gaps. When what it missed was already pruned, a `gap` event says from where the replay could start.
 */
export function eventRoutes(s: ApiServices): Route[] {
  return [
    {
      method: "GET",
      path: "/api/v1/events",
      scope: "read",
      async handle({ req, res, query }) {
        const from = resumePoint(req, query);
        // The id of an event this log never held (it was started anew: a new data directory): resuming
        // after it would silently skip every new event up to it.
        if (from !== null && from > 0 && (await s.events.replay(from - 1, 1)).length === 0) {
          throw new BadRequestError(`event ${from} is past the newest event of this hub's log (the log was started anew): reconnect without an id, or with ?after=0`);
        }
        const stream = await s.streams.open(req, res, "events");
        let last = from ?? 0;
        let live: HubEventRecord[] | null = [];
        const deliver = (event: HubEventRecord): void => {
          if (event.seq <= last) return;
          last = event.seq;
          stream.session.push({ ...event.data, at: new Date(event.createdAt).toISOString() }, event.type, String(event.seq));
        };
        const unsubscribe = s.events.subscribe((event) => (live === null ? deliver(event) : live.push(event)));
        void stream.closed.then(unsubscribe);
        // A first connection (no id named) starts live; a reconnection replays what it missed first.
        if (from !== null) {
          let page = await s.events.replay(last, REPLAY_PAGE);
          if (page.length > 0 && page[0]!.seq > last + 1) {
            stream.session.push({ lastEventId: last, resumedAt: page[0]!.seq, kept: s.events.maxEvents }, "gap", String(page[0]!.seq - 1));
          }
          while (page.length > 0) {
            for (const event of page) deliver(event);
            page = page.length === REPLAY_PAGE ? await s.events.replay(last, REPLAY_PAGE) : [];
          }
        }
        const buffered = live;
        live = null;
        for (const event of buffered) deliver(event);
      },
    },
  ];
}
