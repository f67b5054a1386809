import { countedAs } from "@uplink/protocol";
import { ApiError, type Schemas } from "../client.js";
import type { CliContext } from "../context.js";

type TargetResult = Schemas["TargetResult"];

export interface FanoutOutcome {
  id: string;
  targetCount: number;
  counts: Schemas["FanoutCounts"];
  targets: TargetResult[];
  /** False when the CLI stopped waiting before the hub said the fan-out was done (see collectFanout). */
  complete: boolean;
}

/** Reconnects of a broken result stream (with Last-Event-ID) before reading the final state instead. */
const STREAM_RETRIES = 8;
/** Waits between reconnects: 0.5, 1, 2, 4, 4, … s, so a hub restarting has time to come back. */
const RETRY_BASE_MS = 500;
const RETRY_CAP_MS = 4_000;
/** How long past the fan-out's own deadline the CLI waits for `done` before it stops waiting. */
export const DONE_GRACE_MS = 30_000;

/**
 * Starts a fan-out and collects its results from the result stream as they land, showing progress on
 * stderr when it is a terminal (and, with --json, printing each result as an NDJSON line at once).
 *
 * It never waits forever: a broken stream is resumed from the last result seen (`Last-Event-ID`) after a
 * growing pause, at most {@link STREAM_RETRIES} times, and the whole wait is bounded by the fan-out's
 * deadline plus {@link DONE_GRACE_MS}. Then the hub's record settles what it can: a fan-out the hub says is
 * done is complete (a restarted hub closes out what its previous process left open); one still running
 * comes back with `complete: false`. A fan-out the hub no longer knows (404) and a hub that stays
 * unreachable are errors naming the fan-out.
 */
export async function collectFanout(ctx: CliContext, body: Schemas["FanoutRequest"]): Promise<FanoutOutcome> {
  const { data: started } = await ctx.client.startFanout(body);
  const targets = new Map<string, TargetResult>();
  const counts: Schemas["FanoutCounts"] = { pending: started.targetCount, ok: 0, error: 0, timeout: 0, offline: 0, cancelled: 0 };
  const progress = process.stderr.isTTY && !ctx.json;
  const show = () => {
    if (progress) process.stderr.write(`\r${targets.size}/${started.targetCount} answered · ${counts.ok} ok · ${counts.error} error · ${counts.timeout} timeout · ${counts.offline} offline${counts.cancelled > 0 ? ` · ${counts.cancelled} cancelled` : ""} `);
  };
  const land = (t: TargetResult) => {
    if (t.status === "pending" || targets.has(t.correlationId)) return;
    targets.set(t.correlationId, t);
    counts.pending--;
    counts[countedAs(t.status)]++;
    if (ctx.json) ctx.out(JSON.stringify({ type: "result", ...t }));
    show();
  };
  const gone = () => new ApiError(404, "not_found", `fan-out ${started.id} is no longer known to the hub; ${targets.size} of ${started.targetCount} results were received`);
  show();
  let done = started.targetCount === 0;
  if (!done) {
    const timeoutMs = typeof body.timeoutMs === "number" ? body.timeoutMs : (await fanoutState(ctx, started.id)).timeoutMs;
    const deadline = Date.now() + timeoutMs + DONE_GRACE_MS;
    let lastId: string | undefined;
    for (let failures = 0; !done; ) {
      const signal = AbortSignal.timeout(Math.max(1, deadline - Date.now()));
      try {
        // The id is kept as each event arrives: a stream that breaks (rather than ends) returns none.
        await ctx.client.stream(`/api/v1/queries/${started.id}/stream`, { lastEventId: lastId, signal }, (event) => {
          lastId = event.id ?? lastId;
          if (event.event === "result") land(JSON.parse(event.data) as TargetResult);
          else if (event.event === "done") done = true;
        });
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) throw gone();
        // Refused for good (401, 403, …): retrying would not change the answer.
        if (err instanceof ApiError && err.status >= 400 && err.status < 500) throw err;
      }
      if (done || signal.aborted || ++failures > STREAM_RETRIES) break;
      const pause = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** (failures - 1));
      if (progress) process.stderr.write("\n");
      process.stderr.write(`uplink: the result stream of ${started.id} broke; resuming in ${pause / 1000} s (${failures}/${STREAM_RETRIES})\n`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(pause, Math.max(0, deadline - Date.now()))));
    }
  }
  if (!done) {
    let data: Schemas["FanoutView"];
    try {
      data = await fanoutState(ctx, started.id);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) throw gone();
      if (err instanceof ApiError && err.status === 0) {
        throw new ApiError(0, "unreachable", `lost the hub while collecting ${started.id} (${targets.size} of ${started.targetCount} results received): ${err.message}`);
      }
      throw err;
    }
    for (const t of data.targets) land(t);
    done = data.finishedAt !== null;
  }
  if (progress) process.stderr.write("\n");
  const ordered = [...targets.values()].sort((a, b) => a.agentId.localeCompare(b.agentId));
  return { id: started.id, targetCount: started.targetCount, counts, targets: ordered, complete: done };
}

/** `GET /api/v1/queries/:id` of a fan-out: its state and targets (never a single command's audit row). */
async function fanoutState(ctx: CliContext, id: string): Promise<Schemas["FanoutView"]> {
  const { data } = await ctx.client.getQuery(id);
  if (!("targets" in data)) throw new Error(`the hub answered ${id} with a single command's record, not a fan-out`);
  return data;
}
