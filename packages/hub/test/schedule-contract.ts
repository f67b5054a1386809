/**
 * Schedules and policies as part of the Store contract: CRUD with unique names, run claims by (schedule,
 * agent, slot) across owners, the differential base, policy host states with their history, and the
 * pruning of runs. `describeStoreContract` runs these for every store.
 */
import { expect, it } from "vitest";
import { createLogger } from "../src/logger.js";
import { HubMetrics } from "../src/metrics.js";
import { Pruner, type Retention } from "../src/store/pruner.js";
import type { NewScheduleRun, RunKey, ScheduleRecord } from "../src/store/schedule-store.js";
import type { Store } from "../src/store/store.js";

const OFF: Retention = { maxAgeMs: 0, maxCount: 0 };

export function scheduleCases(current: () => Store): void {
  const schedule = (id: string, over: Partial<ScheduleRecord> = {}): ScheduleRecord => ({
    id,
    kind: "schedule",
    name: `name-${id}`,
    query: "select 1",
    collector: "host",
    intervalMs: 1000,
    targets: { all: true },
    mode: "differential",
    timeoutMs: null,
    enabled: true,
    createdAt: 10,
    updatedAt: 10,
    ...over,
  });
  const run = (slot: number, owner = "hub_a", over: Partial<NewScheduleRun> = {}): NewScheduleRun => ({ scheduleId: "sch_1", agentId: "agt_1", slot, correlationId: `c-${owner}-${slot}`, owner, createdAt: slot, ...over });
  const key = ({ scheduleId, agentId, slot, correlationId }: NewScheduleRun): RunKey => ({ scheduleId, agentId, slot, correlationId });
  const ok = { status: "ok" as const, snapshot: false, added: null, removed: null, rows: null, errorCode: null, errorMessage: null, finishedAt: 5 };

  it("creates, lists, changes and deletes schedules and policies, names unique within their kind", async () => {
    const s = current().schedules;
    expect(await s.createSchedule(schedule("sch_1", { name: "b" }))).toBe(true);
    expect(await s.createSchedule(schedule("sch_2", { name: "a", targets: { labels: { role: "web" } } }))).toBe(true);
    expect(await s.createSchedule(schedule("sch_3", { name: "a" }))).toBe(false);
    // The same name is free among policies.
    expect(await s.createSchedule(schedule("pol_1", { kind: "policy", name: "a", mode: null }))).toBe(true);
    expect((await s.listSchedules("schedule")).map((r) => r.id)).toEqual(["sch_2", "sch_1"]);
    expect((await s.listSchedules()).length).toBe(3);
    expect(await s.findSchedule("sch_2")).toEqual(schedule("sch_2", { name: "a", targets: { labels: { role: "web" } } }));
    expect(await s.updateSchedule("sch_1", { name: "a", updatedAt: 20 })).toBe("name_taken");
    const changed = await s.updateSchedule("sch_1", { intervalMs: 5000, enabled: false, timeoutMs: 300, targets: { agentIds: ["agt_9"] }, updatedAt: 20 });
    expect(changed).toEqual(schedule("sch_1", { name: "b", intervalMs: 5000, enabled: false, timeoutMs: 300, targets: { agentIds: ["agt_9"] }, updatedAt: 20 }));
    expect(await s.updateSchedule("sch_missing", { updatedAt: 20 })).toBeUndefined();
    expect(await s.deleteSchedule("sch_1")).toBe(true);
    expect(await s.deleteSchedule("sch_1")).toBe(false);
    expect(await s.findSchedule("sch_1")).toBeUndefined();
  });

  it("claims each (schedule, agent, slot) once; a pending claim passes to another owner only on takeover", async () => {
    const s = current().schedules;
    await s.createSchedule(schedule("sch_1"));
    expect(await s.claimRun(run(1000))).toBe(true);
    expect(await s.claimRun(run(1000, "hub_b"))).toBe(false);
    expect(await s.claimRun(run(2000))).toBe(true);
    expect(await s.listCursors("sch_1", 0)).toEqual(new Map([["agt_1", 2000]]));
    // hub_a died with both open: hub_b sees them and takes one over with a new correlationId.
    expect((await s.openRuns("hub_b", 10)).map((r) => r.slot)).toEqual([1000, 2000]);
    expect(await s.openRuns("hub_a", 10)).toEqual([]);
    expect(await s.claimRun(run(1000, "hub_b"), true)).toBe(true);
    // The old owner's answer no longer lands; the new one's does.
    expect(await s.finishRun(key(run(1000)), ok)).toBe(false);
    expect(await s.finishRun(key(run(1000, "hub_b")), ok)).toBe(true);
    expect(await s.finishRun(key(run(1000, "hub_b")), ok)).toBe(false);
    expect(await s.claimRun(run(1000, "hub_c"), true)).toBe(false);
    // The cursor never moves back.
    expect(await s.listCursors("sch_1", 0)).toEqual(new Map([["agt_1", 2000]]));
  });

  it("decides claims made together each on its own: a slot once, a disabled schedule's none, the cursor at the latest", async () => {
    const s = current().schedules;
    await s.createSchedule(schedule("sch_1"));
    await s.createSchedule(schedule("sch_2", { enabled: false }));
    const agents = Array.from({ length: 150 }, (_, i) => `agt_${i}`);
    const claims = await Promise.all([
      ...agents.map((agentId) => s.claimRun(run(1000, "hub_a", { agentId, correlationId: `a-${agentId}` }))),
      s.claimRun(run(1000, "hub_b", { agentId: "agt_7", correlationId: "b-agt_7" })),
      s.claimRun(run(3000, "hub_a", { agentId: "agt_7", correlationId: "a-agt_7-3000" })),
      s.claimRun(run(2000, "hub_a", { agentId: "agt_7", correlationId: "a-agt_7-2000" })),
      s.claimRun(run(1000, "hub_a", { scheduleId: "sch_2", correlationId: "a-sch_2" })),
    ]);
    // One of the two claims of agt_7's slot 1000 is refused, whichever came second.
    expect(claims.filter((c) => !c).length).toBe(2);
    expect(claims.at(-1)).toBe(false);
    expect(claims.slice(-3, -1)).toEqual([true, true]);
    const cursors = await s.listCursors("sch_1", 0);
    expect(cursors.size).toBe(150);
    expect(cursors.get("agt_7")).toBe(3000);
    expect(cursors.get("agt_149")).toBe(1000);
    // Only the cursors at or after a slot: those older do not change where an agent resumes.
    expect(await s.listCursors("sch_1", 2000)).toEqual(new Map([["agt_7", 3000]]));
    expect(await s.listCursors("sch_2", 0)).toEqual(new Map());
    expect((await s.listRuns("sch_1", { agentId: "agt_7", limit: 10 })).map((r) => r.slot).sort()).toEqual([1000, 2000, 3000]);
  });

  it("ends runs together each on its own: once, only while pending, each with its base", async () => {
    const s = current().schedules;
    await s.createSchedule(schedule("sch_1"));
    const agents = Array.from({ length: 100 }, (_, i) => `agt_${i}`);
    await Promise.all(agents.map((agentId) => s.claimRun(run(1000, "hub_a", { agentId, correlationId: `a-${agentId}` }))));
    const ended = await Promise.all([
      ...agents.map((agentId) => s.finishRun(key(run(1000, "hub_a", { agentId, correlationId: `a-${agentId}` })), { ...ok, rows: [{ agentId }], base: [{ agentId }] })),
      s.finishRun(key(run(1000, "hub_a", { agentId: "agt_3", correlationId: "a-agt_3" })), ok),
      s.finishRun(key(run(1000, "hub_a", { agentId: "agt_5", correlationId: "no-such-run" })), ok),
      s.finishRun(key(run(1000, "hub_a", { scheduleId: "sch_2", agentId: "agt_4", correlationId: "a-agt_4" })), ok),
    ]);
    // agt_3's run was ended twice: one of the two ends it, whichever came first.
    expect(ended.filter((e, i) => i !== 3 && i !== 100)).toEqual([...agents.slice(1).map(() => true), false, false]);
    expect([ended[3], ended[100]].filter(Boolean).length).toBe(1);
    expect(await s.baseRows("sch_1", "agt_42")).toEqual([{ agentId: "agt_42" }]);
    expect((await s.listRuns("sch_1", { agentId: "agt_5", limit: 1 }))[0]).toMatchObject({ status: "ok", rows: [{ agentId: "agt_5" }] });
  });

  it("refuses claims of a schedule that is disabled or deleted", async () => {
    const s = current().schedules;
    await s.createSchedule(schedule("sch_1"));
    await s.updateSchedule("sch_1", { enabled: false, updatedAt: 11 });
    expect(await s.claimRun(run(1000))).toBe(false);
    await s.updateSchedule("sch_1", { enabled: true, updatedAt: 12 });
    expect(await s.claimRun(run(1000))).toBe(true);
    await s.deleteSchedule("sch_1");
    expect(await s.claimRun(run(2000))).toBe(false);
    expect(await s.listCursors("sch_1", 0)).toEqual(new Map());
  });

  it("stores a run's rows, diff and error, and the agent's base for the next diff", async () => {
    const s = current().schedules;
    await s.createSchedule(schedule("sch_1"));
    expect(await s.baseRows("sch_1", "agt_1")).toBeNull();
    await s.claimRun(run(1000));
    const rows = [{ name: "sshd", pid: 1 }, { name: "cron", pid: null }];
    await s.finishRun(key(run(1000)), { ...ok, snapshot: true, added: rows, removed: [], rows, base: rows });
    expect(await s.baseRows("sch_1", "agt_1")).toEqual(rows);
    await s.claimRun(run(2000));
    await s.finishRun(key(run(2000)), { ...ok, status: "timeout", errorCode: "timeout", errorMessage: "no answer" });
    const [late, first] = await s.listRuns("sch_1", { limit: 10 });
    expect(first).toMatchObject({ slot: 1000, status: "ok", snapshot: true, added: rows, removed: [], rows, owner: "hub_a", finishedAt: 5 });
    expect(late).toMatchObject({ slot: 2000, status: "timeout", errorCode: "timeout", errorMessage: "no answer", added: null, rows: null });
    expect(await s.baseRows("sch_1", "agt_1")).toEqual(rows);
    expect((await s.listRuns("sch_1", { limit: 10, before: late!.seq })).map((r) => r.slot)).toEqual([1000]);
    expect(await s.listRuns("sch_1", { limit: 10, agentId: "agt_2" })).toEqual([]);
    // Another interval keeps the base; another query drops it (the next run is a snapshot).
    await s.updateSchedule("sch_1", { intervalMs: 2000, updatedAt: 30 });
    expect(await s.baseRows("sch_1", "agt_1")).toEqual(rows);
    await s.updateSchedule("sch_1", { query: "select name from processes", updatedAt: 31 });
    expect(await s.baseRows("sch_1", "agt_1")).toBeNull();
  });

  it("keeps each host's policy state and records only changes", async () => {
    const s = current().schedules;
    await s.createSchedule(schedule("pol_1", { kind: "policy", mode: null }));
    expect(await s.setPolicyHost({ policyId: "pol_1", agentId: "agt_1", state: "pass", reason: null, checkedAt: 100 })).toEqual({ from: null });
    expect(await s.setPolicyHost({ policyId: "pol_1", agentId: "agt_1", state: "pass", reason: null, checkedAt: 200 })).toBeUndefined();
    expect(await s.setPolicyHost({ policyId: "pol_1", agentId: "agt_1", state: "fail", reason: "no rows", checkedAt: 300 })).toEqual({ from: "pass" });
    expect(await s.setPolicyHost({ policyId: "pol_1", agentId: "agt_2", state: "unknown", reason: "offline", checkedAt: 300 })).toEqual({ from: null });
    expect(await s.listPolicyHosts("pol_1", "fail")).toEqual([{ policyId: "pol_1", agentId: "agt_1", state: "fail", reason: "no rows", since: 300, checkedAt: 300 }]);
    expect((await s.policyCounts()).get("pol_1")).toEqual({ pass: 0, fail: 1, unknown: 1 });
    expect((await s.listPolicyChanges("pol_1", 10)).map((c) => [c.agentId, c.from, c.to])).toEqual([
      ["agt_2", null, "unknown"],
      ["agt_1", "pass", "fail"],
      ["agt_1", null, "pass"],
    ]);
    await s.deleteSchedule("pol_1");
    expect(await s.listPolicyHosts("pol_1")).toEqual([]);
  });

  it("prunes ended runs past their count and age (never an open one), and every run of a deleted schedule", async () => {
    const s = current().schedules;
    await s.createSchedule(schedule("sch_1"));
    await s.createSchedule(schedule("sch_2", { name: "other" }));
    for (const slot of [100, 200, 300, 400, 500]) {
      await s.claimRun(run(slot));
      if (slot !== 200) await s.finishRun(key(run(slot)), ok);
    }
    await s.claimRun(run(100, "hub_a", { scheduleId: "sch_2", correlationId: "other-100", createdAt: 900 }));
    await s.finishRun(key(run(100, "hub_a", { scheduleId: "sch_2", correlationId: "other-100" })), ok);
    const prune = (scheduleRuns: Retention) =>
      new Pruner({ store: current(), metrics: new HubMetrics(), log: createLogger("silent"), settings: { audit: OFF, fanouts: OFF, events: OFF, scheduleRuns, intervalMs: 60_000, batchRows: 2 }, now: () => 1_000, markStep: 2 }).prune();
    // The 3 newest runs are kept (sch_2's among them); 100 and 300 go, 200 is open and stays.
    expect((await prune({ maxAgeMs: 0, maxCount: 3 })).schedule_runs).toBe(2);
    expect((await s.listRuns("sch_1", { limit: 10 })).map((r) => r.slot)).toEqual([500, 400, 200]);
    // By age: created before 1000 - 550 = 450.
    expect((await prune({ maxAgeMs: 550, maxCount: 0 })).schedule_runs).toBe(1);
    expect((await s.listRuns("sch_1", { limit: 10 })).map((r) => r.slot)).toEqual([500, 200]);
    await s.deleteSchedule("sch_1");
    // A deleted schedule's runs all go (its open one too: nothing will land in it), whatever the retention.
    expect((await prune(OFF)).schedule_runs).toBe(2);
    expect(await s.listRuns("sch_1", { limit: 10 })).toEqual([]);
    expect((await s.listRuns("sch_2", { limit: 10 })).length).toBe(1);
  });
}
