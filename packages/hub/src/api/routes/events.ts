import type { HubEventRecord } from "../../store/store.js";
import type { Route } from "../route.js";
import type { ApiServices } from "../services.js";

/** Events replayed per store read. */
const REPLAY_PAGE = 1000;

/**
 * `GET /api/v1/events`: hub events as Server-Sent Events, each with its seq as id. A client that
 * reconnects with `Last-Event-ID` (or `?after=<seq>`) first gets what it missed from the bounded log,
 * then live events, with no duplicates and no gaps. When what it missed was already pruned, a `gap`
 * event says from where the replay could start.
 */
export function eventRoutes(s: ApiServices): Route[] {
  return [
    {
      method: "GET",
      path: "/api/v1/events",
      scope: "read",
      async handle({ req, res, query }) {
        const stream = await s.streams.open(req, res, "events", query);
        let last = stream.lastEventId ?? 0;
        let live: HubEventRecord[] | null = [];
        const deliver = (event: HubEventRecord): void => {
          if (event.seq <= last) return;
          last = event.seq;
          stream.session.push({ ...event.data, at: new Date(event.createdAt).toISOString() }, event.type, String(event.seq));
        };
        const unsubscribe = s.events.subscribe((event) => (live === null ? deliver(event) : live.push(event)));
        void stream.closed.then(unsubscribe);
        // A first connection (no id named) starts live; a reconnection replays what it missed first.
        if (stream.lastEventId !== null) {
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
