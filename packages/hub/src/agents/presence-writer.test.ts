import type { HealthResult } from "@uplink/protocol";
import pino from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { EventLog } from "../events/event-log.js";
import { HubMetrics } from "../metrics.js";
import { SqliteStore } from "../store/sqlite-store.js";
import type { AgentConnection } from "./agent-connection.js";
import { AgentRegistry } from "./agent-registry.js";
import { PresenceWriter } from "./presence-writer.js";

const log = pino({ level: "silent" });
const REPLICA = "hub_test";
const health = (uptimeS: number): HealthResult => ({ status: "ok", agentVersion: "1", uptimeS, load1: 0, memFreeBytes: 1, memTotalBytes: 2, inflight: 0, collectors: ["host"] });

/** Just what the registry reads of a connection. */
function connection(agentId: string, at: number) {
  return { agentId, protocol: 2, connectedAt: at, lastSeenAt: at, state: "open", close() {} } as unknown as AgentConnection & { lastSeenAt: number };
}

describe("PresenceWriter with the AgentRegistry", () => {
  let store: SqliteStore;
  let presence: PresenceWriter;
  let registry: AgentRegistry;
  let events: EventLog;
  beforeEach(async () => {
    store = new SqliteStore(":memory:");
    for (const id of ["agt_a", "agt_b", "agt_c"]) await store.createAgent({ id, secretHash: "ab".repeat(32), hostname: id, labels: {}, enrolledAt: 1 });
    presence = new PresenceWriter({ store, replicaId: REPLICA, flushIntervalMs: 60_000, log });
    events = new EventLog({ store, log, metrics: new HubMetrics() });
    registry = new AgentRegistry({ store, events, presence, log, replicaId: REPLICA });
  });
  afterEach(async () => {
    await presence.stop();
    await events.drain();
    await store.close();
  });

  /** Connects the agents and waits for their online rows. */
  async function connect(ids: string[], at: number) {
    const updates = vi.spyOn(store, "updateAgent");
    const conns = ids.map((id) => connection(id, at));
    for (const c of conns) registry.add(c);
    await Promise.all(updates.mock.results.map((r) => r.value));
    updates.mockRestore();
    return conns;
  }

  it("keeps polls that change nothing but lastSeenAt and health in memory, and writes them in one statement per flush", async () => {
    const conns = await connect(["agt_a", "agt_b", "agt_c"], 100);
    const updates = vi.spyOn(store, "updateAgent");
    const batches = vi.spyOn(store, "recordPresence");
    for (let poll = 1; poll <= 5; poll++) {
      for (const c of conns) {
        c.lastSeenAt = 100 + poll;
        registry.recordHealth(c, health(poll));
      }
    }
    expect(updates).not.toHaveBeenCalled();
    expect(batches).not.toHaveBeenCalled();
    expect(presence.pending).toBe(3);
    // The store still has the connect; a read on this replica sees the polls.
    expect(await store.findAgent("agt_a")).toMatchObject({ lastSeenAt: 100, lastHealth: null });
    const [view] = presence.overlay([(await store.findAgent("agt_a"))!]);
    expect(view).toMatchObject({ lastSeenAt: 105, lastHealth: health(5) });

    await presence.flush();
    expect(batches).toHaveBeenCalledTimes(1);
    expect(batches.mock.calls[0]![1].map((r) => r.id).sort()).toEqual(["agt_a", "agt_b", "agt_c"]);
    for (const id of ["agt_a", "agt_b", "agt_c"]) expect(await store.findAgent(id)).toMatchObject({ status: "online", lastSeenAt: 105, lastHealth: health(5) });
    // Nothing new: the next flush writes nothing.
    await presence.flush();
    expect(batches).toHaveBeenCalledTimes(1);
    // A legacy agent's bare success moves lastSeenAt and keeps the last health result.
    conns[0]!.lastSeenAt = 200;
    registry.recordHealth(conns[0]!, null, true);
    await presence.flush();
    expect(batches).toHaveBeenCalledTimes(2);
    expect(await store.findAgent("agt_a")).toMatchObject({ lastSeenAt: 200, lastHealth: health(5) });
    expect(updates).not.toHaveBeenCalled();
  });

  it("writes a status transition at once, with what waited for the flush", async () => {
    const [a] = await connect(["agt_a"], 100);
    const updates = vi.spyOn(store, "updateAgent");
    a!.lastSeenAt = 110;
    registry.recordHealth(a!, health(1));
    expect(updates).not.toHaveBeenCalled();
    registry.recordHealth(a!, null);
    expect(updates).toHaveBeenCalledTimes(1);
    await updates.mock.results[0]!.value;
    expect(await store.findAgent("agt_a")).toMatchObject({ status: "unresponsive", lastSeenAt: 110, lastHealth: health(1) });
    expect(presence.pending).toBe(0);
    // Still failing: no change, no write.
    registry.recordHealth(a!, null);
    expect(updates).toHaveBeenCalledTimes(1);
    a!.lastSeenAt = 130;
    registry.recordHealth(a!, health(3));
    expect(updates).toHaveBeenCalledTimes(2);
    await updates.mock.results[1]!.value;
    expect(await store.findAgent("agt_a")).toMatchObject({ status: "online", lastSeenAt: 130, lastHealth: health(3) });
    expect(presence.pending).toBe(0);
  });

  it("folds what waited into the offline write on disconnect, and flushes on stop", async () => {
    const [a, b] = await connect(["agt_a", "agt_b"], 100);
    a!.lastSeenAt = 150;
    b!.lastSeenAt = 160;
    registry.recordHealth(a!, health(1));
    registry.recordHealth(b!, health(2));
    const updates = vi.spyOn(store, "updateAgent");
    registry.remove(a!);
    await updates.mock.results[0]!.value;
    expect(await store.findAgent("agt_a")).toMatchObject({ status: "offline", lastSeenAt: 150, lastHealth: health(1) });
    expect(presence.overlay([(await store.findAgent("agt_a"))!])[0]).toMatchObject({ lastSeenAt: 150 });
    const batches = vi.spyOn(store, "recordPresence");
    await presence.stop();
    expect(batches).toHaveBeenCalledTimes(1);
    expect(batches.mock.calls[0]![1]).toEqual([{ id: "agt_b", lastSeenAt: 160, lastHealth: health(2) }]);
    expect(await store.findAgent("agt_b")).toMatchObject({ status: "online", lastSeenAt: 160, lastHealth: health(2) });
  });

  it("records a whole fleet offline on shutdown in a few statements, not one write per agent, keeping what waited for the flush", async () => {
    const [a, b, c] = await connect(["agt_a", "agt_b", "agt_c"], 100);
    a!.lastSeenAt = 150;
    registry.recordHealth(a!, health(1));
    b!.lastSeenAt = 170; // a pong, say: newer than any poll
    const updates = vi.spyOn(store, "updateAgent");
    const batches = vi.spyOn(store, "recordPresence");
    const offline = vi.spyOn(store, "markOffline");
    await registry.closeAll(1001, "hub shutting down", new Error("stopping") as never);
    expect(batches).toHaveBeenCalledTimes(1);
    expect(offline).toHaveBeenCalledExactlyOnceWith(REPLICA);
    // The sockets closing afterwards find their agents recorded already: no write of their own.
    for (const conn of [a!, b!, c!]) registry.remove(conn);
    expect(registry.size).toBe(0);
    expect(updates).not.toHaveBeenCalled();
    await presence.stop();
    await events.drain();
    expect(await store.findAgent("agt_a")).toMatchObject({ status: "offline", lastSeenAt: 150, lastHealth: health(1) });
    expect(await store.findAgent("agt_b")).toMatchObject({ status: "offline", lastSeenAt: 170, lastHealth: null });
    expect(await store.findAgent("agt_c")).toMatchObject({ status: "offline", lastSeenAt: 100 });
    expect((await store.listEvents(0, 100)).filter((e) => e.type === "agent.disconnected")).toHaveLength(3);
  });

  it("keeps a batch the store refused for the next flush, and forgets an agent handed over to another replica", async () => {
    const [a, b] = await connect(["agt_a", "agt_b"], 100);
    a!.lastSeenAt = 120;
    b!.lastSeenAt = 120;
    registry.recordHealth(a!, health(1));
    registry.recordHealth(b!, health(1));
    const batches = vi.spyOn(store, "recordPresence").mockRejectedValueOnce(new Error("store unavailable"));
    await presence.flush();
    expect(presence.pending).toBe(2);
    registry.handOver("agt_b", "hub_other", new Error("moved") as never);
    await presence.flush();
    expect(batches).toHaveBeenCalledTimes(2);
    expect(batches.mock.calls[1]![1]).toEqual([{ id: "agt_a", lastSeenAt: 120, lastHealth: health(1) }]);
    expect(await store.findAgent("agt_a")).toMatchObject({ lastSeenAt: 120, lastHealth: health(1) });
    expect(await store.findAgent("agt_b")).toMatchObject({ lastSeenAt: 100, lastHealth: null });
  });
});
