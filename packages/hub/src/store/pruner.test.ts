import { setImmediate as nextTurn } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../logger.js";
import { HubMetrics } from "../metrics.js";
import { Pruner, type PrunerSettings } from "./pruner.js";
import { SqliteStore } from "./sqlite-store.js";

const OFF = { maxAgeMs: 0, maxCount: 0 };

describe("Pruner", () => {
  let store: SqliteStore;
  const metrics = new HubMetrics();
  const make = (over: Partial<PrunerSettings> = {}) =>
    new Pruner({ store, metrics, log: createLogger("silent"), settings: { audit: { maxAgeMs: 1, maxCount: 0 }, fanouts: OFF, events: OFF, healthSamplesMaxAgeMs: 0, intervalMs: 60_000, batchRows: 2, ...over } });

  beforeEach(async () => {
    store = new SqliteStore(":memory:");
    for (let i = 0; i < 11; i++) {
      await store.insertAudit({ correlationId: `c${i}`, agentId: "agt", requester: "ops", sessionId: "s", requestId: null, collector: "host", query: "select 1", createdAt: i });
      await store.finishAudit(`c${i}`, { status: "ok", finishedAt: i, durationMs: 1, errorCode: null, errorMessage: null, resultJson: null, resultTruncated: false });
    }
  });
  afterEach(() => store.close());

  it("yields to the event loop between statements: other work runs while a backlog is pruned", async () => {
    let turns = 0;
    let ticking = true;
    const tick = (): void => {
      if (!ticking) return;
      turns++;
      setImmediate(tick);
    };
    setImmediate(tick);
    // Ten old rows (the newest stays) in statements of two: five statements, a turn of the loop after each.
    expect((await make().prune()).audit).toBe(10);
    ticking = false;
    expect(turns).toBeGreaterThanOrEqual(5);
  });

  it("ends a pass at its next statement once stopped", async () => {
    const pruner = make();
    const pass = pruner.prune();
    await pruner.stop();
    expect((await pass).audit).toBe(2);
    expect(await store.listAudit({ limit: 100 })).toHaveLength(9);
  });

  it("prunes on its timer once started", async () => {
    const pruner = make({ intervalMs: 5 });
    pruner.start();
    while ((await store.listAudit({ limit: 100 })).length > 1) await nextTurn();
    await pruner.stop();
    expect((await store.listAudit({ limit: 100 })).map((r) => r.correlationId)).toEqual(["c10"]);
  });
});
