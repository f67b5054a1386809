import { describe, expect, it } from "vitest";
import { DueQueue } from "./due-queue.js";
import { nextDueAfter, phaseOf } from "./spread.js";

describe("phaseOf", () => {
  it("gives a pair the same phase every time, inside the interval", () => {
    expect(phaseOf("sch_1", "agt_1", 60_000)).toBe(phaseOf("sch_1", "agt_1", 60_000));
    expect(phaseOf("sch_1", "agt_1", 60_000)).not.toBe(phaseOf("sch_1", "agt_2", 60_000));
    for (let i = 0; i < 100; i++) {
      const p = phaseOf("sch_1", `agt_${i}`, 1000);
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThan(1000);
    }
  });

  it("spreads 2,000 agents × 100 schedules evenly: no tenth of the interval holds more than 1.1× its share", () => {
    const buckets = new Array<number>(10).fill(0);
    for (let s = 0; s < 100; s++) for (let a = 0; a < 2_000; a++) buckets[Math.floor(phaseOf(`sch_${s}`, `agt_${a}`, 60_000) / 6_000)]!++;
    const mean = (100 * 2_000) / 10;
    for (const n of buckets) expect(n).toBeLessThan(mean * 1.1);
  });
});

describe("nextDueAfter", () => {
  it("answers the first slot strictly after a time on the phase's grid", () => {
    expect(nextDueAfter(0, 1000, 250)).toBe(250);
    expect(nextDueAfter(250, 1000, 250)).toBe(1250);
    expect(nextDueAfter(1249, 1000, 250)).toBe(1250);
    expect(nextDueAfter(1_700_000_000_123, 60_000, 7)).toBe(1_700_000_040_007);
  });
});

describe("DueQueue", () => {
  it("hands out only what is due, earliest first, whatever the order of pushes", () => {
    const q = new DueQueue<{ due: number; id: number }>();
    const dues = Array.from({ length: 1000 }, (_, i) => ({ due: (i * 7919) % 1000, id: i }));
    for (const d of dues) q.push(d);
    expect(q.peek()).toBe(0);
    const out: number[] = [];
    for (let d = q.popDue(499); d !== undefined; d = q.popDue(499)) out.push(d.due);
    expect(out).toEqual([...out].sort((a, b) => a - b));
    expect(out.length).toBe(500);
    expect(q.size).toBe(500);
    expect(q.peek()).toBe(500);
  });
});
