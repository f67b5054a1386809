import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { MemoryBroker } from "../../test/memory-bus.js";
import type { CommandReply, CommandRequest } from "../agents/pending-commands.js";
import { AgentOfflineError } from "../errors.js";
import { EventLog } from "../events/event-log.js";
import { HubMetrics } from "../metrics.js";
import type { CommandRouter } from "../queries/command-router.js";
import { SqliteStore } from "../store/sqlite-store.js";
import type { AgentRecord } from "../store/store.js";
import { Scheduler } from "./scheduler.js";

const log = pino({ level: "silent" });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Polls until `probe` holds (a state only timers bring about), failing after `timeoutMs`. */
async function until(what: string, probe: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** A router that answers every query at once with the rows the test sets per agent, and records what it sent. */
class FakeRouter implements CommandRouter {
  readonly sent: { agentId: string; request: CommandRequest }[] = [];
  rows = new Map<string, string[]>();
  offline = new Set<string>();
  holds(): boolean {
    return true;
  }
  async presence(agents: AgentRecord[]): Promise<AgentRecord[]> {
    return agents;
  }
  async revoke(): Promise<void> {}
  async cancelFanoutOn(): Promise<boolean> {
    return false;
  }
  async dispatch(agentId: string, request: CommandRequest): Promise<CommandReply> {
    this.sent.push({ agentId, request });
    if (this.offline.has(agentId)) throw new AgentOfflineError(agentId);
    const names = this.rows.get(agentId) ?? [];
    return { correlationId: request.correlationId, ok: true, result: { columns: ["name"], rows: names.map((n) => [n]), rowCount: names.length, truncated: false } };
  }
}

describe("Scheduler", () => {
  const running: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const stop of running.splice(0).reverse()) await stop();
  });

  async function setup(agents: string[]) {
    const store = new SqliteStore(":memory:");
    for (const id of agents) await store.createAgent({ id, secretHash: "ab", hostname: id, labels: { role: "web" }, enrolledAt: 1 });
    running.push(() => store.close());
    const metrics = new HubMetrics();
    const events = new EventLog({ store, log, metrics });
    const received: { type: string; data: Record<string, unknown> }[] = [];
    events.subscribe((e) => received.push(e));
    return { store, metrics, events, received };
  }

  function scheduler(deps: Awaited<ReturnType<typeof setup>>, router: CommandRouter, hubId: string, lease?: { broker: MemoryBroker; ttlMs: number }) {
    const bus = lease?.broker.join(hubId);
    const s = new Scheduler({
      ...deps,
      // Each replica its own registry, as each process has.
      metrics: new HubMetrics(),
      router,
      log,
      hubId,
      defaultTimeoutMs: 1_000,
      leaseRenewMs: 100,
      lease: bus === undefined ? undefined : { hold: () => bus.lease("scheduler", lease!.ttlMs), release: () => bus.releaseLease("scheduler") },
    });
    s.start();
    running.push(async () => {
      await s.stop();
      await bus?.close();
    });
    return s;
  }

  it("runs each targeted agent once per interval, stores a first snapshot then exactly the rows added and removed, and skips an offline agent's diff", async () => {
    const deps = await setup(["agt_a", "agt_b", "agt_c"]);
    const router = new FakeRouter();
    router.rows.set("agt_a", ["sshd", "cron"]);
    router.rows.set("agt_b", ["sshd"]);
    await deps.store.schedules.createSchedule({ id: "sch_1", kind: "schedule", name: "procs", query: "select name from processes", collector: "host", intervalMs: 1000, targets: { labels: { role: "web" }, agentIds: ["agt_c"] }, mode: "differential", timeoutMs: null, enabled: true, createdAt: 1, updatedAt: 1 });
    scheduler(deps, router, "hub_1");
    const ended = async (agentId: string) => (await deps.store.schedules.listRuns("sch_1", { agentId, limit: 100 })).filter((r) => r.status !== "pending");
    await until("every agent's first run", async () => (await ended("agt_a")).length > 0 && (await ended("agt_b")).length > 0 && (await ended("agt_c")).length > 0);
    router.rows.set("agt_a", ["sshd", "nginx"]);
    router.offline.add("agt_b");
    await until("b's runs offline", async () => (await ended("agt_b")).some((r) => r.status === "offline"));
    router.offline.delete("agt_b");
    router.rows.set("agt_b", ["sshd", "httpd"]);
    await until("b's catch-up", async () => (await ended("agt_b")).some((r) => !r.snapshot && (r.added ?? []).length > 0));
    await until("a third run of every agent", async () => (await ended("agt_a")).length >= 3 && (await ended("agt_c")).length >= 3);

    // Each agent's commands: its own correlationId, the schedule's session, the default deadline, one per interval.
    const byAgent = (id: string) => router.sent.filter((s) => s.agentId === id);
    for (const id of ["agt_a", "agt_b", "agt_c"]) {
      const sent = byAgent(id);
      expect(sent.length).toBeGreaterThanOrEqual(3);
      expect(new Set(sent.map((s) => s.request.correlationId)).size).toBe(sent.length);
      expect(sent[0]!.request).toMatchObject({ sessionId: "sch_1", kind: "query", timeoutMs: 1_000 });
    }
    const runs = async (agentId: string) => (await ended(agentId)).reverse();
    const a = await runs("agt_a");
    expect(a[0]).toMatchObject({ snapshot: true, added: [{ name: "sshd" }, { name: "cron" }], removed: [] });
    const changed = a.filter((r) => !r.snapshot && r.added!.length + r.removed!.length > 0);
    expect(changed.map((r) => [r.added, r.removed])).toEqual([[[{ name: "nginx" }], [{ name: "cron" }]]]);
    const b = await runs("agt_b");
    expect(b.some((r) => r.status === "offline")).toBe(true);
    expect(b.filter((r) => r.snapshot).length).toBe(1);
    expect(b.filter((r) => !r.snapshot && r.status === "ok" && r.added!.length > 0).map((r) => r.added)).toEqual([[{ name: "httpd" }]]);
    // agt_c answers no rows: a snapshot of nothing, then nothing changes.
    expect((await runs("agt_c"))[0]).toMatchObject({ snapshot: true, added: [], removed: [] });
    const announced = deps.received.filter((e) => e.type === "schedule.result");
    expect(announced.filter((e) => e.data.agentId === "agt_a").map((e) => e.data.snapshot)).toEqual([true, false]);
  });

  it("keeps each agent's differential base in memory: read from the store once, written through, and dropped when a change resets it", async () => {
    const deps = await setup(["agt_a"]);
    const router = new FakeRouter();
    router.rows.set("agt_a", ["sshd"]);
    const reads: string[] = [];
    const baseRows = deps.store.schedules.baseRows.bind(deps.store.schedules);
    deps.store.schedules.baseRows = (scheduleId, agentId) => (reads.push(agentId), baseRows(scheduleId, agentId));
    await deps.store.schedules.createSchedule({ id: "sch_1", kind: "schedule", name: "n", query: "select 1", collector: "host", intervalMs: 1000, targets: { agentIds: ["agt_a"] }, mode: "differential", timeoutMs: null, enabled: true, createdAt: 1, updatedAt: 1 });
    const s = scheduler(deps, router, "hub_1");
    const ok = async () => (await deps.store.schedules.listRuns("sch_1", { limit: 100 })).filter((r) => r.status === "ok").reverse();
    await until("a first run", async () => (await ok()).length >= 1);
    router.rows.set("agt_a", ["sshd", "cron"]);
    await until("a change stored", async () => (await ok()).some((r) => !r.snapshot && r.added!.length > 0));
    await until("a run after the change", async () => (await ok()).length >= 3);
    expect(reads).toEqual(["agt_a"]);
    const before = await ok();
    expect(before.filter((r) => r.snapshot).length).toBe(1);
    expect(before.filter((r) => !r.snapshot && r.added!.length + r.removed!.length > 0).map((r) => r.added)).toEqual([[{ name: "cron" }]]);

    // Another question: the store drops the bases and so does the scheduler; the next run is a snapshot again.
    expect(await deps.store.schedules.updateSchedule("sch_1", { query: "select 2", updatedAt: 2 })).toMatchObject({ query: "select 2" });
    s.changed("sch_1");
    await until("a snapshot of the new query", async () => (await ok()).filter((r) => r.snapshot).length === 2);
    expect(reads.length).toBe(2);
  });

  it("on start, runs again the runs a dead hub left pending, and ends as hub_restarted those it cannot run", async () => {
    const deps = await setup(["agt_a"]);
    const router = new FakeRouter();
    router.rows.set("agt_a", ["sshd"]);
    await deps.store.schedules.createSchedule({ id: "sch_1", kind: "schedule", name: "n", query: "select 1", collector: "host", intervalMs: 60_000, targets: { agentIds: ["agt_a"] }, mode: "snapshot", timeoutMs: null, enabled: true, createdAt: 1, updatedAt: 1 });
    const slot = Date.now() - 5_000;
    await deps.store.schedules.claimRun({ scheduleId: "sch_1", agentId: "agt_a", slot, correlationId: "dead-a", owner: "hub_dead", createdAt: slot });
    // An agent the schedule no longer targets.
    await deps.store.schedules.claimRun({ scheduleId: "sch_1", agentId: "agt_gone", slot, correlationId: "dead-gone", owner: "hub_dead", createdAt: slot });
    scheduler(deps, router, "hub_1");
    const runs = () => deps.store.schedules.listRuns("sch_1", { limit: 10 });
    await until("both ended", async () => (await runs()).every((r) => r.status !== "pending"));
    const [gone, a] = [(await runs()).find((r) => r.agentId === "agt_gone")!, (await runs()).find((r) => r.agentId === "agt_a" && r.slot === slot)!];
    expect(a).toMatchObject({ status: "ok", owner: "hub_1", rows: [{ name: "sshd" }] });
    expect(a.correlationId).not.toBe("dead-a");
    expect(router.sent.map((s) => s.request.correlationId)).toContain(a.correlationId);
    expect(gone).toMatchObject({ status: "error", errorCode: "hub_restarted", owner: "hub_dead" });
  });

  it("runs on the lease holder only; when its bus dies the other takes the lease and resumes without a slot missing or run twice", async () => {
    const deps = await setup(["agt_a", "agt_b"]);
    const broker = new MemoryBroker();
    const routers = { hub_1: new FakeRouter(), hub_2: new FakeRouter() };
    await deps.store.schedules.createSchedule({ id: "sch_1", kind: "schedule", name: "n", query: "select 1", collector: "host", intervalMs: 1000, targets: { all: true }, mode: "snapshot", timeoutMs: null, enabled: true, createdAt: 1, updatedAt: 1 });
    const one = scheduler(deps, routers.hub_1, "hub_1", { broker, ttlMs: 500 });
    await sleep(50);
    const two = scheduler(deps, routers.hub_2, "hub_2", { broker, ttlMs: 500 });
    await until("two runs per agent, sent by the holder", () => routers.hub_1.sent.length >= 4);
    expect(one.running).toBe(true);
    expect(two.running).toBe(false);
    expect(routers.hub_2.sent.length).toBe(0);

    broker.kill("hub_1");
    await until("the other replica runs them", () => !one.running && two.running && routers.hub_2.sent.length >= 4);
    for (const agentId of ["agt_a", "agt_b"]) {
      const slots = (await deps.store.schedules.listRuns("sch_1", { agentId, limit: 100 })).map((r) => r.slot).reverse();
      expect(new Set(slots).size).toBe(slots.length);
      for (let i = 1; i < slots.length; i++) expect(slots[i]! - slots[i - 1]!).toBe(1000);
    }
  });
});
