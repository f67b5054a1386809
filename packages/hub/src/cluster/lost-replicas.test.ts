import pino from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { EventLog } from "../events/event-log.js";
import { HubMetrics } from "../metrics.js";
import { SqliteStore } from "../store/sqlite-store.js";
import { LOST_REPLICA_CONFIRM_MS, LostReplicaSweeper } from "./lost-replicas.js";
import type { ClusterBus } from "./cluster-bus.js";
import { parseOwnership } from "./redis-scripts.js";

const log = pino({ level: "silent" });

/** The part of the bus the sweeper uses: which heartbeats exist, and whether our own connection is up. */
function fakeBus(alive: Set<string>, state: { ready: boolean }): ClusterBus {
  return { replicaId: "hub_self", ready: () => state.ready, alive: async (id: string) => alive.has(id) } as unknown as ClusterBus;
}

describe("LostReplicaSweeper", () => {
  let store: SqliteStore;
  let sweeper: LostReplicaSweeper | undefined;
  const alive = new Set<string>();
  const bus = { ready: true };

  beforeEach(async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    store = new SqliteStore(":memory:");
    alive.clear();
    bus.ready = true;
    await store.insertAudit({ correlationId: "c_dead", agentId: "agt_1", requester: "ops", sessionId: "s", requestId: null, collector: "host", query: "select 1", createdAt: 1, replicaId: "hub_dead" });
    await store.insertAudit({ correlationId: "c_self", agentId: "agt_1", requester: "ops", sessionId: "s", requestId: null, collector: "host", query: "select 1", createdAt: 1, replicaId: "hub_self" });
  });
  afterEach(async () => {
    await sweeper?.stop();
    await store.close();
    vi.useRealTimers();
  });

  const start = () => (sweeper = new LostReplicaSweeper({ store, bus: fakeBus(alive, bus), events: new EventLog({ store, log, metrics: new HubMetrics() }), metrics: new HubMetrics(), log }));
  const status = async (id: string) => (await store.findAudit(id))?.errorCode ?? (await store.findAudit(id))?.status;

  it("closes out a replica only after its heartbeat stayed missing for the confirmation period, never its own work", async () => {
    const s = start();
    await s.sweep();
    expect(await status("c_dead")).toBe("pending");
    vi.advanceTimersByTime(LOST_REPLICA_CONFIRM_MS - 1);
    await s.sweep();
    expect(await status("c_dead")).toBe("pending");
    vi.advanceTimersByTime(1);
    await s.sweep();
    expect(await status("c_dead")).toBe("replica_lost");
    expect(await status("c_self")).toBe("pending");
  });

  it("forgets a suspicion when the heartbeat comes back (a Redis restart) or its own bus was down meanwhile", async () => {
    const s = start();
    await s.sweep();
    alive.add("hub_dead");
    vi.advanceTimersByTime(LOST_REPLICA_CONFIRM_MS);
    await s.sweep();
    alive.delete("hub_dead");
    await s.sweep(); // suspected again from now
    vi.advanceTimersByTime(LOST_REPLICA_CONFIRM_MS - 1);
    bus.ready = false;
    await s.sweep();
    bus.ready = true;
    vi.advanceTimersByTime(LOST_REPLICA_CONFIRM_MS);
    await s.sweep(); // suspected afresh: the earlier sighting was forgotten while the bus was down
    expect(await status("c_dead")).toBe("pending");
    vi.advanceTimersByTime(LOST_REPLICA_CONFIRM_MS);
    await s.sweep();
    expect(await status("c_dead")).toBe("replica_lost");
  });
});

describe("parseOwnership", () => {
  it("reads <replicaId>@<epoch>, and a bare replicaId (written by an older release) as epoch 0", () => {
    expect(parseOwnership("hub_ab12@1764300000000123")).toEqual({ replicaId: "hub_ab12", epoch: 1764300000000123 });
    expect(parseOwnership("hub_ab12")).toEqual({ replicaId: "hub_ab12", epoch: 0 });
    expect(parseOwnership(null)).toBeNull();
  });
});
