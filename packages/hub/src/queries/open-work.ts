import type { EventLog } from "../events/event-log.js";
import type { Logger } from "../logger.js";
import type { HubMetrics } from "../metrics.js";
import type { ClosedWork, CloseOut, Store } from "../store/store.js";
import { countedAs, emptyCounts } from "./fanout-service.js";

/**
 * Closes out what a hub that is gone left open, and tells everyone as if it had ended normally: a
 * `query.done` event per single command and per fan-out (with its final counts), so event followers and
 * result streams (which read the store) see every piece of work end.
 *
 * `owner` null closes every owner's open work: the embedded hub at start-up, where the only possible
 * owner is this hub's previous process. A cluster replica passes the id of a replica found dead.
 */
export async function closeOutOpenWork(
  deps: { store: Store; events: EventLog; metrics: HubMetrics; log: Logger },
  owner: string | null,
  closeOut: Omit<CloseOut, "at">,
): Promise<ClosedWork> {
  const { store, events, metrics, log } = deps;
  const closed = await store.closeOpenWork(owner, { ...closeOut, at: Date.now() });
  for (const c of closed.commands) {
    events.publish("query.done", { correlationId: c.correlationId, agentId: c.agentId, status: "error", code: closeOut.code, durationMs: null });
  }
  for (const f of closed.fanouts) {
    const counts = emptyCounts();
    for (const t of await store.listFanoutTargets(f.id)) counts[countedAs(t.status)]++;
    events.publish("query.done", { fanoutId: f.id, targetCount: f.targetCount, counts, code: closeOut.code });
  }
  metrics.closedOut.inc({ kind: "command", code: closeOut.code }, closed.commands.length);
  metrics.closedOut.inc({ kind: "fanout", code: closeOut.code }, closed.fanouts.length);
  if (closed.commands.length > 0 || closed.fanouts.length > 0) {
    log.warn(
      { owner: owner ?? undefined, code: closeOut.code, commands: closed.commands.length, fanouts: closed.fanouts.map((f) => f.id) },
      "closed out open work left by a hub that is gone",
    );
  }
  return closed;
}

/** The close-out of the embedded hub's start-up. */
export const HUB_RESTARTED = { code: "hub_restarted", message: "the hub restarted before this command finished; its outcome is unknown" } as const;

/** The close-out of a cluster replica found dead. */
export function replicaLost(replicaId: string): Omit<CloseOut, "at"> {
  return { code: "replica_lost", message: `hub replica ${replicaId} stopped before this command finished; its outcome is unknown` };
}
