import { EventEmitter } from "node:events";
import { buildResponse, CloseCode } from "@uplink/protocol";
import pino from "pino";
import type { Counter } from "prom-client";
import type { WebSocket } from "ws";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MemoryBroker } from "../../test/memory-bus.js";
import { AgentConnection } from "../agents/agent-connection.js";
import { AgentRegistry } from "../agents/agent-registry.js";
import type { CommandRequest } from "../agents/pending-commands.js";
import { PresenceWriter } from "../agents/presence-writer.js";
import type { HubError } from "../errors.js";
import { EventLog } from "../events/event-log.js";
import { HubMetrics } from "../metrics.js";
import { SqliteStore } from "../store/sqlite-store.js";
import { RECONCILE_MS } from "./agent-ownership.js";
import { HEARTBEAT_EVERY_MS, HEARTBEAT_TTL_MS } from "./cluster-bus.js";
import { ClusterCommandRouter } from "./cluster-router.js";

// Several replicas in one process over the in-memory bus and one SQLite store (as replicas share
// PostgreSQL); agents are sockets the test plays. Timers are fake, so every bound is exact, not raced.
const log = pino({ level: "silent" });
/** How often the requester checks the heartbeat of the replicas holding its commands (cluster-router.ts). */
const OWNER_WATCH_MS = 1_000;

/** The agent's end of a socket: records what the hub writes, answers when the test says. */
class AgentSocket extends EventEmitter {
  bufferedAmount = 0;
  readonly frames: Record<string, unknown>[] = [];
  closeCode: number | undefined;

  send(data: string): void {
    this.frames.push(JSON.parse(data) as Record<string, unknown>);
  }
  close(code: number, reason: string): void {
    if (this.closeCode !== undefined) return;
    this.closeCode = code;
    queueMicrotask(() => this.emit("close", code, Buffer.from(reason)));
  }
  terminate(): void {
    this.close(1006, "");
  }
  ping(): void {}
  pause(): void {}

  commands(): { correlationId: string; sessionId: string; query: string }[] {
    return this.frames.filter((f) => f.type === "session_command") as never;
  }
  cancels(): string[] {
    return this.frames.filter((f) => f.type === "cancel").map((f) => f.correlationId as string);
  }
  answer(command: { correlationId: string; sessionId: string }, rows: (string | number)[][]): void {
    const frame = buildResponse(command, { ok: true, result: { columns: ["v"], rows, rowCount: rows.length, truncated: false }, durationMs: 1 });
    this.emit("message", Buffer.from(JSON.stringify(frame)), false);
  }
}

interface Replica {
  id: string;
  registry: AgentRegistry;
  router: ClusterCommandRouter;
  metrics: HubMetrics;
  /** A socket of `agentId` accepted by this replica. */
  connect(agentId: string): AgentSocket;
}

async function count(counter: Counter<string>, labels: Record<string, string>): Promise<number> {
  const values = (await counter.get()).values;
  return values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((n, v) => n + v.value, 0);
}

describe("ClusterCommandRouter over the in-memory bus", () => {
  let store: SqliteStore;
  let broker: MemoryBroker;
  let replicas: Replica[];
  let seq = 0;

  beforeEach(async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date"] });
    store = new SqliteStore(":memory:");
    broker = new MemoryBroker();
    replicas = [];
    for (const id of ["agt_a", "agt_b", "agt_silent"]) await store.createAgent({ id, secretHash: "ab".repeat(32), hostname: id, labels: {}, enrolledAt: 1 });
  });
  afterEach(async () => {
    for (const r of replicas) await r.router.close();
    await store.close();
    vi.useRealTimers();
  });

  function replica(id: string): Replica {
    const metrics = new HubMetrics();
    const events = new EventLog({ store, log, metrics });
    const presence = new PresenceWriter({ store, replicaId: id, flushIntervalMs: 60_000, log });
    const registry = new AgentRegistry({ store, events, presence, log, replicaId: id });
    const router = new ClusterCommandRouter({ bus: broker.join(id), registry, store, events, metrics, log });
    const connect = (agentId: string): AgentSocket => {
      const socket = new AgentSocket();
      const limits = { sendHighWaterBytes: 1 << 20, sendHardLimitBytes: 1 << 24, maxFramesPerSecond: 1_000 };
      const connection = new AgentConnection(socket as unknown as WebSocket, { agentId, protocol: 2, log, metrics, limits, onHello: () => {}, onLegacyShapes: () => {}, onClose: (c) => registry.remove(c) });
      registry.add(connection);
      return socket;
    };
    const r = { id, registry, router, metrics, connect };
    replicas.push(r);
    return r;
  }

  function request(query: string, extra: Partial<CommandRequest> = {}): CommandRequest {
    return { correlationId: `c0ffee00-0000-4000-8000-${String(++seq).padStart(12, "0")}`, sessionId: "s1", kind: "query", collector: "host", query, timeoutMs: 30_000, log, ...extra };
  }

  /** Lets queued microtasks and promise chains run (the bus delivers on microtasks). */
  const settle = () => vi.advanceTimersByTimeAsync(0);

  it("routes a command to the replica holding the agent and the reply back to its caller, counted per stage", async () => {
    const [a, b] = [replica("hub_a"), replica("hub_b")];
    const socket = a.connect("agt_a");
    await settle();
    expect(broker.ownership("agt_a")?.replicaId).toBe("hub_a");
    expect(b.router.holds("agt_a")).toBe(false);

    const calls = [b.router.dispatch("agt_a", request("one")), b.router.dispatch("agt_a", request("two"))];
    await settle();
    expect(b.router.pendingCount).toBe(2);
    const [one, two] = socket.commands();
    socket.answer(two!, [[2]]);
    socket.answer(one!, [[1]]);
    const [r1, r2] = await Promise.all(calls);
    expect(r1).toMatchObject({ correlationId: one!.correlationId, ok: true, result: { rows: [[1]] } });
    expect(r2).toMatchObject({ correlationId: two!.correlationId, ok: true, result: { rows: [[2]] } });
    expect(b.router.pendingCount).toBe(0);
    expect(await count(b.metrics.clusterDelivery, { stage: "published" })).toBe(2);
    expect(await count(a.metrics.clusterDelivery, { stage: "delivered" })).toBe(2);
    expect(await count(b.metrics.clusterDelivery, { stage: "returned" })).toBe(2);
    await expect(b.router.dispatch("agt_b", request("nobody"))).rejects.toMatchObject({ code: "agent_offline" });
  });

  it("fails a command waiting on a replica whose heartbeat stops with replica_unreachable within the heartbeat's TTL, and its agents read offline", async () => {
    const [a, b] = [replica("hub_a"), replica("hub_b")];
    const socket = a.connect("agt_silent");
    await settle();
    let outcome: unknown = "pending";
    b.router.dispatch("agt_silent", request("never answered")).then(
      () => (outcome = "answered"),
      (err: HubError) => (outcome = err),
    );
    await settle();
    expect(socket.commands()).toHaveLength(1);

    broker.kill("hub_a");
    await vi.advanceTimersByTimeAsync(HEARTBEAT_TTL_MS + OWNER_WATCH_MS);
    const error = outcome;
    expect(error).toMatchObject({ code: "replica_unreachable", status: 502 });
    expect((error as HubError).message).toContain("hub_a");
    expect(b.router.pendingCount).toBe(0);

    // Its ownership is still recorded, but names a replica without a heartbeat: the agent reads offline.
    expect(broker.ownership("agt_silent")?.replicaId).toBe("hub_a");
    const [agent] = await b.router.presence([{ ...(await store.findAgent("agt_silent"))!, status: "online" }]);
    expect(agent!.status).toBe("offline");
    await expect(b.router.dispatch("agt_silent", request("after"))).rejects.toMatchObject({ code: "agent_offline" });
  });

  it("refuses at once a command for an agent whose replica no longer listens", async () => {
    const [a, b] = [replica("hub_a"), replica("hub_b")];
    a.connect("agt_a");
    await settle();
    broker.kill("hub_a");
    await expect(b.router.dispatch("agt_a", request("late"))).rejects.toMatchObject({ code: "replica_unreachable", status: 502 });
    expect(await count(b.metrics.clusterDelivery, { stage: "undeliverable" })).toBe(1);
  });

  it("closes the older socket with 4409 when the agent connects to another replica, and fails what was pending on it", async () => {
    const [a, b] = [replica("hub_a"), replica("hub_b")];
    const first = a.connect("agt_a");
    await settle();
    const pending = a.router.dispatch("agt_a", request("in flight")).catch((err: HubError) => err);
    const second = b.connect("agt_a");
    await settle();
    expect(first.closeCode).toBe(CloseCode.REPLACED);
    expect(await pending).toMatchObject({ code: "agent_replaced" });
    expect(second.closeCode).toBeUndefined();
    expect(a.router.holds("agt_a")).toBe(false);
    expect(broker.ownership("agt_a")?.replicaId).toBe("hub_b");

    const call = a.router.dispatch("agt_a", request("through A"));
    await settle();
    second.answer(second.commands()[0]!, [["b"]]);
    expect(await call).toMatchObject({ ok: true, result: { rows: [["b"]] } });
  });

  it("ignores a late takeover notice meant for an older connection (A → B → A keeps the newest socket); one for the current connection closes it", async () => {
    const [a, b] = [replica("hub_a"), replica("hub_b")];
    a.connect("agt_a");
    await settle();
    const firstEpoch = broker.ownership("agt_a")!.epoch;
    b.connect("agt_a");
    await settle();
    const third = a.connect("agt_a");
    await settle();
    const current = broker.ownership("agt_a")!;
    expect(current.replicaId).toBe("hub_a");

    broker.send("hub_a", { t: "takeover", agentId: "agt_a", by: "hub_b", epoch: firstEpoch });
    await settle();
    expect(third.closeCode).toBeUndefined();
    expect(await count(a.metrics.reconciled, { action: "stale_notice" })).toBe(1);

    broker.send("hub_a", { t: "takeover", agentId: "agt_a", by: "hub_b", epoch: current.epoch });
    await settle();
    expect(third.closeCode).toBe(CloseCode.REPLACED);
  });

  it("closes a taken-over socket with 4409 at the next heartbeat when the takeover notice is lost", async () => {
    const [a, b] = [replica("hub_a"), replica("hub_b")];
    const first = a.connect("agt_a");
    await settle();
    broker.drop = (_to, message) => message.t === "takeover";
    b.connect("agt_a");
    await settle();
    expect(first.closeCode).toBeUndefined();
    await vi.advanceTimersByTimeAsync(HEARTBEAT_EVERY_MS);
    expect(first.closeCode).toBe(CloseCode.REPLACED);
    expect(await count(a.metrics.reconciled, { action: "taken_over" })).toBe(1);
    expect(await count(a.metrics.reconciled, { action: "stale_notice" })).toBe(0);
  });

  it("closes with 4403 the socket of an agent revoked through another replica", async () => {
    const [a, b] = [replica("hub_a"), replica("hub_b")];
    const socket = a.connect("agt_a");
    await settle();
    await b.router.revoke("agt_a");
    await settle();
    expect(socket.closeCode).toBe(CloseCode.REVOKED);
    expect(a.router.holds("agt_a")).toBe(false);
  });

  it("closes with 4403 at the next reconcile a socket whose agent was revoked elsewhere when the notice is lost", async () => {
    const [a, b] = [replica("hub_a"), replica("hub_b")];
    const socket = a.connect("agt_a");
    await vi.advanceTimersByTimeAsync(RECONCILE_MS);
    broker.drop = (_to, message) => message.t === "revoke";
    await store.revokeAgent("agt_a", Date.now());
    await b.router.revoke("agt_a");
    await settle();
    expect(socket.closeCode).toBeUndefined();
    await vi.advanceTimersByTimeAsync(RECONCILE_MS);
    expect(socket.closeCode).toBe(CloseCode.REVOKED);
    expect(await count(a.metrics.reconciled, { action: "revoked" })).toBe(1);
  });

  it("reads the revocations since its cursor each reconcile, and looks up each held agent only once, after it connected", async () => {
    const revokedAmong = vi.spyOn(store, "revokedAmong");
    const revokedSince = vi.spyOn(store, "revokedSince");
    const a = replica("hub_a");
    const sockets = ["agt_a", "agt_b"].map((id) => a.connect(id));
    await vi.advanceTimersByTimeAsync(RECONCILE_MS);
    expect(revokedAmong.mock.calls).toEqual([[["agt_a", "agt_b"]]]);
    await vi.advanceTimersByTimeAsync(5 * RECONCILE_MS);
    // Idle agents cost no lookup: each reconcile is one read of the revocations, empty here.
    expect(revokedAmong).toHaveBeenCalledTimes(1);
    expect(revokedSince).toHaveBeenCalledTimes(6);
    expect(new Set(revokedSince.mock.calls.map(([cursor]) => cursor))).toEqual(new Set([0]));

    await store.revokeAgent("agt_b", Date.now());
    await vi.advanceTimersByTimeAsync(RECONCILE_MS);
    expect(sockets.map((s) => s.closeCode)).toEqual([undefined, CloseCode.REVOKED]);
    // The cursor moved past that revocation: it is read once.
    await vi.advanceTimersByTimeAsync(RECONCILE_MS);
    expect(revokedSince.mock.calls.at(-1)![0]).toBe(await store.revocationCursor());
    expect(await count(a.metrics.reconciled, { action: "revoked" })).toBe(1);
    expect(revokedAmong).toHaveBeenCalledTimes(1);
  });

  it("closes a socket registered after the poll went past its agent's revocation (an authentication that read the agent before it)", async () => {
    const a = replica("hub_a");
    await vi.advanceTimersByTimeAsync(RECONCILE_MS);
    await store.revokeAgent("agt_b", Date.now());
    await vi.advanceTimersByTimeAsync(RECONCILE_MS);
    const late = a.connect("agt_b");
    await settle();
    expect(late.closeCode).toBeUndefined();
    await vi.advanceTimersByTimeAsync(RECONCILE_MS);
    expect(late.closeCode).toBe(CloseCode.REVOKED);
  });

  it("looks up again at the next reconcile the agents connected while the store could not be read", async () => {
    const a = replica("hub_a");
    await vi.advanceTimersByTimeAsync(RECONCILE_MS);
    await store.revokeAgent("agt_b", Date.now());
    await vi.advanceTimersByTimeAsync(RECONCILE_MS);
    const late = a.connect("agt_b");
    vi.spyOn(store, "revokedAmong").mockRejectedValueOnce(new Error("connection terminated"));
    await vi.advanceTimersByTimeAsync(RECONCILE_MS);
    expect(late.closeCode).toBeUndefined();
    await vi.advanceTimersByTimeAsync(RECONCILE_MS);
    expect(late.closeCode).toBe(CloseCode.REVOKED);
  });

  it("cancels on the owner's socket a command whose caller gave up, and fails the caller at once", async () => {
    const [a, b] = [replica("hub_a"), replica("hub_b")];
    const socket = a.connect("agt_a");
    await settle();
    const caller = new AbortController();
    const call = b.router.dispatch("agt_a", request("long", { signal: caller.signal })).catch((err: HubError) => err);
    await settle();
    const [command] = socket.commands();
    caller.abort();
    expect(await call).toMatchObject({ code: "cancelled" });
    expect(b.router.pendingCount).toBe(0);
    await settle();
    expect(socket.cancels()).toEqual([command!.correlationId]);
    expect(a.registry.pendingCount()).toBe(0);
    // The agent's late answer is an orphan on the owner; nothing crosses the bus back.
    socket.answer(command!, [[1]]);
    expect(await count(b.metrics.clusterDelivery, { stage: "orphaned" })).toBe(0);
  });

  it("writes its ownership again when the bus forgot everything (a Redis restart without persistence)", async () => {
    const [a, b] = [replica("hub_a"), replica("hub_b")];
    const socket = a.connect("agt_a");
    await settle();
    const epoch = broker.ownership("agt_a")!.epoch;
    broker.flush();
    await expect(b.router.dispatch("agt_a", request("during"))).rejects.toMatchObject({ code: "agent_offline" });
    await vi.advanceTimersByTimeAsync(HEARTBEAT_EVERY_MS);
    expect(broker.ownership("agt_a")).toEqual({ replicaId: "hub_a", epoch });
    const call = b.router.dispatch("agt_a", request("after"));
    await settle();
    socket.answer(socket.commands()[0]!, [[1]]);
    expect(await call).toMatchObject({ ok: true });
  });
});
