import { FanoutPageQuery, FanoutRequest, HistoryQuery, type FanoutPage, type FanoutStarted, type HistoryPage } from "@uplink/protocol";
import { BadRequestError, HubError, NotFoundError } from "../../errors.js";
import type { FanoutEvent } from "../../queries/fanout-service.js";
import type { FanoutRecord, QueryStatus } from "../../store/store.js";
import { parseWith, readJson, sendJson } from "../http.js";
import type { Route } from "../route.js";
import { deadlineOf } from "./agents.js";
import { MAX_BODY_BYTES, type ApiServices } from "../services.js";
import { resumePoint, type SseStream } from "../sse.js";
import { auditView, fanoutPageView, fanoutView, targetView } from "../views.js";

const FANOUT_PREFIX = "fan_";
/** How often a stream of a fan-out collected elsewhere (another replica) reads new results from the store. */
const STORE_POLL_MS = 250;
/** How long a cancel waits for the replica collecting the fan-out to record it finished. */
const REMOTE_CANCEL_WAIT_MS = 10_000;
/** Ended fan-outs whose counts a paged read keeps in memory. */
const ENDED_COUNTS_KEPT = 1000;

/**
 * Cancels a running fan-out where it is collected: here, or through the bus on the replica collecting it,
 * then waits (reading the store) until that replica recorded it finished.
 */
async function cancelFanout(s: ApiServices, fanout: FanoutRecord, by: string): Promise<void> {
  if (await s.fanouts.cancel(fanout.id, by)) return;
  const elsewhere = fanout.replicaId !== null && fanout.replicaId !== s.hubId;
  if (elsewhere && !(await s.router.cancelFanoutOn(fanout.replicaId!, fanout.id, by))) {
    throw HubError.of("replica_unreachable", `replica ${fanout.replicaId} collecting fan-out ${fanout.id} is not listening; it is closed out once that replica is found gone`);
  }
  const deadline = Date.now() + REMOTE_CANCEL_WAIT_MS;
  while ((await s.store.findFanout(fanout.id))?.finishedAt === null) {
    if (Date.now() > deadline) throw HubError.of("replica_unreachable", `replica ${fanout.replicaId} did not finish cancelling fan-out ${fanout.id} within ${REMOTE_CANCEL_WAIT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, STORE_POLL_MS));
  }
}

/**
 * Streams a fan-out this process is not collecting (finished, or running on another replica) from the
 * store, the authoritative record: new results as they are stored, then `done` once it finished.
 */
async function followFromStore(s: ApiServices, id: string, stream: SseStream, deliver: (event: FanoutEvent) => void, last: () => number): Promise<void> {
  let open = true;
  void stream.closed.then(() => (open = false));
  while (open) {
    const fanout = await s.store.findFanout(id);
    // Pruned past its retention while followed: nothing more will come, and a reconnection gets 404.
    if (fanout === undefined) return stream.end();
    // Only an unbroken run of seqs: with a networked store a later result may commit before an earlier
    // one, and skipping past the gap would lose the earlier one for good.
    const before = last();
    for (const row of await s.store.listFanoutResults(id, before)) {
      if (row.resultSeq !== last() + 1) break;
      deliver({ kind: "result", target: targetView(row) });
    }
    // Finished and nothing more to read (a result whose write failed leaves a gap for good): done.
    if (fanout?.finishedAt != null && (last() === fanout.targetCount || last() === before)) {
      deliver({ kind: "done", counts: fanoutView(fanout, await s.store.listFanoutTargets(id)).counts });
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, STORE_POLL_MS));
  }
}

/**
 * `/api/v1/queries…`: the audit history, fan-out queries (start, status, result stream), and any single
 * command's record by its correlationId — the authoritative answer when a response was lost on the way.
 */
export function queryRoutes(s: ApiServices): Route[] {
  // The counts of ended fan-outs, which no longer change (no pending row is left to finish): a fan-out read
  // page after page counts its targets once, not once per page. The oldest go first past ENDED_COUNTS_KEPT.
  const endedCounts = new Map<string, Partial<Record<QueryStatus, number>>>();
  const countsOf = async (fanout: FanoutRecord): Promise<Partial<Record<QueryStatus, number>>> => {
    const known = endedCounts.get(fanout.id);
    if (known !== undefined) return known;
    const counts = await s.store.countFanoutTargets(fanout.id);
    if (fanout.finishedAt !== null) {
      endedCounts.set(fanout.id, counts);
      if (endedCounts.size > ENDED_COUNTS_KEPT) endedCounts.delete(endedCounts.keys().next().value!);
    }
    return counts;
  };
  return [
    {
      method: "GET",
      path: "/api/v1/queries",
      scope: "read",
      async handle({ res, query }) {
        const q = parseWith(HistoryQuery, Object.fromEntries(query), "query");
        const rows = await s.store.listAudit(q);
        const nextBefore = rows.length === q.limit ? rows[rows.length - 1]!.seq : null;
        sendJson(res, 200, { queries: rows.map(auditView), nextBefore } satisfies HistoryPage);
      },
    },
    {
      method: "POST",
      path: "/api/v1/queries",
      scope: "query",
      async handle({ req, res, principal, requestId }) {
        const body = await readJson(req, FanoutRequest, MAX_BODY_BYTES);
        const started = await s.fanouts.start({
          query: body.query,
          collector: body.collector,
          timeoutMs: deadlineOf(s, body.timeoutMs),
          targets: body.targets,
          requester: principal!.name,
          requestId,
        });
        sendJson(res, 202, started satisfies FanoutStarted, { Location: `/api/v1/queries/${started.id}` });
      },
    },
    {
      method: "GET",
      path: "/api/v1/queries/:id",
      scope: "read",
      async handle({ res, params, query }) {
        const id = params.id!;
        if (id.startsWith(FANOUT_PREFIX)) {
          const { limit, after } = parseWith(FanoutPageQuery, Object.fromEntries(query), "query");
          const fanout = await s.store.findFanout(id);
          if (fanout === undefined) throw new NotFoundError(`no query ${id}`);
          if (limit === undefined) {
            sendJson(res, 200, fanoutView(fanout, await s.store.listFanoutTargets(id)));
            return;
          }
          // One more than asked: whether a next page exists, so the last page says so (nextAfter null).
          const [rows, counts] = await Promise.all([s.store.listFanoutTargetPage(id, after ?? null, limit + 1), countsOf(fanout)]);
          const nextAfter = rows.length > limit ? rows[limit - 1]!.agentId : null;
          sendJson(res, 200, fanoutPageView(fanout, counts, rows.slice(0, limit), nextAfter) satisfies FanoutPage);
          return;
        }
        const row = (await s.store.findAudit(id)) ?? null;
        if (row === null) throw new NotFoundError(`no query ${id}`);
        sendJson(res, 200, auditView(row), { "X-Correlation-Id": row.correlationId });
      },
    },
    {
      method: "POST",
      path: "/api/v1/queries/:id/cancel",
      scope: "query",
      async handle({ res, params, principal }) {
        const id = params.id!;
        const fanout = id.startsWith(FANOUT_PREFIX) ? await s.store.findFanout(id) : undefined;
        if (fanout === undefined) throw new NotFoundError(`no fan-out query ${id}`);
        // The token that started it (its requester) or an admin: another operator's work is not a query token's to stop.
        if (principal!.scope !== "admin" && principal!.name !== fanout.requester) {
          throw HubError.of("forbidden", `fan-out ${id} was started by ${fanout.requester}; only its requester or an admin token may cancel it`);
        }
        if (fanout.finishedAt !== null) throw HubError.of("fanout_finished", `fan-out ${id} already ended; there is nothing left to cancel`);
        await cancelFanout(s, fanout, principal!.name);
        const ended = await s.store.findFanout(id);
        if (ended === undefined) throw new NotFoundError(`no fan-out query ${id}`);
        sendJson(res, 200, fanoutView(ended, await s.store.listFanoutTargets(id)));
      },
    },
    {
      method: "GET",
      path: "/api/v1/queries/:id/stream",
      scope: "read",
      async handle({ req, res, params, query }) {
        const id = params.id!;
        const fanout = await s.store.findFanout(id);
        if (fanout === undefined) throw new NotFoundError(`no fan-out query ${id}`);
        // Results carry their resultSeq (1…targetCount) as id, `done` the next one: ids strictly increase.
        const doneId = fanout.targetCount + 1;
        const from = resumePoint(req, query);
        if (from !== null && from > doneId) throw new BadRequestError(`event ${from} is not an id of the result stream of ${id} (its last is ${doneId}, done)`);
        if (from === doneId) {
          // The client saw `done`: 204 tells an EventSource the stream is over, so it stops reconnecting.
          res.writeHead(204).end();
          return;
        }
        const stream = await s.streams.open(req, res, "fanout");
        let last = from ?? 0;
        let live: FanoutEvent[] | null = [];
        const deliver = (event: FanoutEvent): void => {
          if (event.kind === "done") {
            stream.session.push(event.counts, "done", String(doneId));
            stream.end();
          } else if (event.target.resultSeq! > last) {
            last = event.target.resultSeq!;
            stream.session.push(event.target, "result", String(last));
          }
        };
        // Subscribe before replaying, so nothing lands unseen between the two; the seq drops duplicates.
        const unsubscribe = s.fanouts.subscribe(id, (event) => (live === null ? deliver(event) : live.push(event)));
        void stream.closed.then(() => unsubscribe?.());
        for (const row of await s.store.listFanoutResults(id, last)) deliver({ kind: "result", target: targetView(row) });
        const buffered = live;
        live = null;
        for (const event of buffered) deliver(event);
        if (unsubscribe === undefined) await followFromStore(s, id, stream, deliver, () => last);
      },
    },
  ];
}
