/**
 * History retention as part of the Store contract: the pruner (src/store/pruner.ts) driving a store's
 * history statements, with the clock and the walk step chosen by the test so that ages, counts, batches
 * and multi-step walks show on a handful of rows. `describeStoreContract` runs these for every store.
 */
import { expect, it } from "vitest";
import { createLogger } from "../src/logger.js";
import { HubMetrics } from "../src/metrics.js";
import { Pruner, type PrunerSettings, type Retention } from "../src/store/pruner.js";
import type { NewAudit, Store } from "../src/store/store.js";

const OFF: Retention = { maxAgeMs: 0, maxCount: 0 };
const NOW = 1_000;

export function retentionCases(current: () => Store): void {
  const pruner = (over: Partial<PrunerSettings>, metrics = new HubMetrics()) =>
    new Pruner({
      store: current(),
      metrics,
      log: createLogger("silent"),
      settings: { audit: OFF, fanouts: OFF, events: OFF, healthSamplesMaxAgeMs: 0, intervalMs: 60_000, batchRows: 2, ...over },
      now: () => NOW,
      markStep: 2,
    });
  const row = (correlationId: string, createdAt: number): NewAudit => ({ correlationId, agentId: "agt", requester: "ops", sessionId: "s", requestId: null, collector: "host", query: "select 1", createdAt });
  const ended = { status: "ok" as const, finishedAt: 1, durationMs: 1, errorCode: null, errorMessage: null, resultJson: null, resultTruncated: false };
  const single = async (id: string, createdAt: number, open = false) => {
    await current().insertAudit(row(id, createdAt));
    if (!open) await current().finishAudit(id, ended);
  };
  const fanout = async (id: string, createdAt: number, targets: number, open = false) => {
    const rows = Array.from({ length: targets }, (_, i) => row(`${id}-t${i}`, createdAt));
    await current().createFanout({ id, query: "select 1", collector: "host", requester: "ops", requestId: null, timeoutMs: 1000, targetCount: targets, createdAt }, rows);
    if (open) return;
    for (const [i, r] of rows.entries()) await current().finishAudit(r.correlationId, { ...ended, resultSeq: i + 1 });
    await current().finishFanout(id, createdAt + 1);
  };
  const auditIds = async () => (await current().listAudit({ limit: 100 })).map((r) => r.correlationId).sort();
  const eventIds = async () => (await current().listEvents(0, 100)).map((e) => e.data.i);

  it("prunes single-agent audit rows past their age, oldest first in batches, never a pending one or a fan-out target", async () => {
    for (const [i, at] of [100, 200, 300, 400, 500, 600].entries()) await single(`c${i + 1}`, at);
    await single("c_open", 150, true);
    await fanout("fan_old", 50, 1);
    await single("c_new", 900);
    const metrics = new HubMetrics();
    // Older than NOW - 500 = 500 goes; 500 itself is inside retention.
    expect(await pruner({ audit: { maxAgeMs: 500, maxCount: 0 } }, metrics).prune()).toEqual({ audit: 4, fanout_targets: 0, fanouts: 0, events: 0, sessions: 0, outbox: 0, schedule_runs: 0, health_samples: 0 });
    expect(await auditIds()).toEqual(["c5", "c6", "c_new", "c_open", "fan_old-t0"]);
    expect((await metrics.prunedRows.get()).values.map((v) => [v.labels.table, v.value])).toEqual([["audit", 4]]);
    // One statement takes at most its batch.
    expect(await current().history.pruneAudit({ createdAt: 800, seq: 0 }, 1)).toBe(1);
    expect(await auditIds()).toEqual(["c6", "c_new", "c_open", "fan_old-t0"]);
  });

  it("keeps the newest single-agent audit rows by count, ties in time ordered by seq, and always the newest audit row", async () => {
    for (const [i, at] of [1, 2, 3, 3, 4, 5].entries()) await single(`c${i + 1}`, at);
    // Walked in steps of 2: the fourth newest is c3 (created at 3, the older of the two).
    expect((await pruner({ audit: { maxAgeMs: 0, maxCount: 4 } }).prune()).audit).toBe(2);
    expect(await auditIds()).toEqual(["c3", "c4", "c5", "c6"]);
    expect((await pruner({ audit: { maxAgeMs: 0, maxCount: 10 } }).prune()).audit).toBe(0);
    // Everything is past a 1 ms age; the newest row stays (it carries the sequence).
    expect((await pruner({ audit: { maxAgeMs: 1, maxCount: 10 } }).prune()).audit).toBe(3);
    expect(await auditIds()).toEqual(["c6"]);
    await single("c7", 6);
    expect((await current().findAudit("c7"))!.seq).toBeGreaterThan((await current().findAudit("c6"))!.seq);
  });

  it("prunes finished fan-outs with all their targets by age, never an open one", async () => {
    await fanout("fan_a", 100, 3);
    await fanout("fan_b", 200, 2);
    await fanout("fan_open", 50, 2, true);
    await fanout("fan_c", 900, 1);
    await single("c_new", 950);
    // fan_a's three targets go in two statements of at most 2.
    expect(await pruner({ fanouts: { maxAgeMs: 500, maxCount: 0 } }).prune()).toEqual({ audit: 0, fanout_targets: 5, fanouts: 2, events: 0, sessions: 0, outbox: 0, schedule_runs: 0, health_samples: 0 });
    expect(await current().findFanout("fan_a")).toBeUndefined();
    expect(await current().listFanoutTargets("fan_b")).toEqual([]);
    expect((await current().listFanoutTargets("fan_open")).map((t) => t.status)).toEqual(["pending", "pending"]);
    expect(await current().findFanout("fan_c")).toMatchObject({ targetCount: 1 });
    expect(await auditIds()).toEqual(["c_new", "fan_c-t0", "fan_open-t0", "fan_open-t1"]);
    // Asked directly, the store leaves an open fan-out and its targets alone.
    expect(await current().history.pruneFanout("fan_open", 10)).toEqual({ targets: 0, fanout: false });
  });

  it("keeps the newest whole fan-outs up to a count of target rows", async () => {
    await fanout("fan_open", 50, 2, true);
    await fanout("fan_c", 900, 1);
    await fanout("fan_d", 950, 4);
    await fanout("fan_e", 960, 3);
    await fanout("fan_f", 970, 2);
    await single("c_new", 980);
    // Newest first: fan_f (2) and fan_e (5 in all) fit in 5; fan_d would make 9: it and older go, open ones stay.
    expect(await pruner({ fanouts: { maxAgeMs: 0, maxCount: 5 } }).prune()).toMatchObject({ fanout_targets: 5, fanouts: 2 });
    for (const id of ["fan_c", "fan_d"]) expect(await current().findFanout(id)).toBeUndefined();
    for (const id of ["fan_open", "fan_e", "fan_f"]) expect(await current().findFanout(id)).toBeDefined();
    // A single fan-out larger than the bound is kept while it is the newest.
    expect(await pruner({ fanouts: { maxAgeMs: 0, maxCount: 1 } }).prune()).toMatchObject({ fanout_targets: 3, fanouts: 1 });
    expect((await current().listFanoutTargets("fan_f")).length).toBe(2);
  });

  it("prunes events oldest first by age and count, only ever a prefix of the log, never the newest", async () => {
    const event = (i: number, createdAt: number) => ({ type: "agent.connected" as const, data: { i }, createdAt });
    // Event 3 comes from a replica whose clock runs ahead: it stops the age prefix, so event 4 stays.
    await current().appendEvents([event(1, 10), event(2, 20), event(3, 900), event(4, 30), event(5, 950), event(6, 960), event(7, 970)]);
    expect((await pruner({ events: { maxAgeMs: 500, maxCount: 0 } }).prune()).events).toBe(2);
    expect(await eventIds()).toEqual([3, 4, 5, 6, 7]);
    expect((await pruner({ events: { maxAgeMs: 0, maxCount: 3 } }).prune()).events).toBe(2);
    expect(await eventIds()).toEqual([5, 6, 7]);
    expect((await pruner({ events: { maxAgeMs: 1, maxCount: 0 } }).prune()).events).toBe(2);
    expect(await eventIds()).toEqual([7]);
    const [next] = await current().appendEvents([event(8, 980)]);
    expect(next!.seq).toBeGreaterThan((await current().listEvents(0, 1))[0]!.seq);
  });

  it("drops console sessions that expired, whatever the history settings, and counts them", async () => {
    const session = (id: string, expiresAt: number) => ({ id, tokenId: "tok_s", secretHash: "ab".repeat(32), csrfToken: "c", createdAt: 1, expiresAt });
    await current().createSession(session("ses_old", NOW - 1));
    await current().createSession(session("ses_live", NOW + 1));
    const metrics = new HubMetrics();
    expect((await pruner({}, metrics).prune()).sessions).toBe(1);
    expect(await current().findSession("ses_old")).toBeUndefined();
    expect(await current().findSession("ses_live")).toBeDefined();
    expect((await metrics.prunedRows.get()).values.map((v) => [v.labels.table, v.value])).toEqual([["sessions", 1]]);
  });

  it("prunes harmlessly from several pruners at once: each row is deleted once", async () => {
    for (let i = 0; i < 9; i++) await single(`c${i}`, 100 + i);
    await fanout("fan_a", 100, 5);
    await current().appendEvents(Array.from({ length: 9 }, (_, i) => ({ type: "agent.connected" as const, data: { i }, createdAt: 100 + i })));
    await single("c_new", 990);
    const settings = { audit: { maxAgeMs: 500, maxCount: 0 }, fanouts: { maxAgeMs: 500, maxCount: 0 }, events: { maxAgeMs: 0, maxCount: 1 } };
    const passes = await Promise.all([1, 2, 3].map(() => pruner(settings).prune()));
    const sum = (table: keyof (typeof passes)[number]) => passes.reduce((n, p) => n + p[table], 0);
    expect([sum("audit"), sum("fanout_targets"), sum("fanouts"), sum("events")]).toEqual([9, 5, 1, 8]);
    expect(await auditIds()).toEqual(["c_new"]);
    expect(await eventIds()).toEqual([8]);
  });

  it("prunes agents' health samples past their age, in batches, and counts them", async () => {
    const health = { status: "ok" as const, agentVersion: "1", uptimeS: 1, load1: 0, memFreeBytes: 1, memTotalBytes: 2, inflight: 0, collectors: ["host"] };
    for (const id of ["agt_r1", "agt_r2"]) {
      await current().createAgent({ id, secretHash: "cd".repeat(32), hostname: id, labels: {}, enrolledAt: 1 });
      await current().updateAgent(id, { status: "online", replicaId: "hub_a", lastSeenAt: 1 });
    }
    for (const at of [100, 200, 300, 500, 900]) {
      await current().recordPresence("hub_a", [
        { id: "agt_r1", lastSeenAt: at, lastHealth: health },
        { id: "agt_r2", lastSeenAt: at, lastHealth: health },
      ]);
    }
    const metrics = new HubMetrics();
    // Older than NOW - 500 = 500 goes (6 samples, three statements of 2); 500 itself is inside retention.
    expect((await pruner({ healthSamplesMaxAgeMs: 500 }, metrics).prune()).health_samples).toBe(6);
    expect((await metrics.prunedRows.get()).values.map((v) => [v.labels.table, v.value])).toEqual([["health_samples", 6]]);
    for (const id of ["agt_r1", "agt_r2"]) expect((await current().listHealthSamples(id, 60)).map((x) => x.at)).toEqual([500, 900]);
    // 0 keeps them whatever their age.
    expect((await pruner({ healthSamplesMaxAgeMs: 0 }).prune()).health_samples).toBe(0);
  });
}
