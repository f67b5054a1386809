import { describe, expect, it } from "vitest";
import { HandshakePacer, MAX_PACED_RETRY_AFTER_S } from "./handshake-pacer.js";

/** A pacer on a clock the test moves. */
function pacer(maxInProgress: number) {
  const clock = { now: 1_000_000 };
  return { clock, pacer: new HandshakePacer(maxInProgress, () => clock.now) };
}

describe("HandshakePacer", () => {
  it("runs at most maxInProgress handshakes at once; an ended one makes room", () => {
    const { pacer: p } = pacer(2);
    expect([p.tryStart(), p.tryStart(), p.tryStart()]).toEqual([true, true, false]);
    p.end(true);
    expect(p.tryStart()).toBe(true);
    expect(p.inProgress).toBe(2);
  });

  it("paces nothing with maxInProgress 0", () => {
    const { pacer: p } = pacer(0);
    for (let i = 0; i < 10_000; i++) expect(p.tryStart()).toBe(true);
  });

  it("gives refused agents turns in order at the rate handshakes completed while agents were refused", () => {
    const { clock, pacer: p } = pacer(1);
    // Ten saturated seconds completing 100 handshakes each: the assumed rate converges on 100/s.
    for (let s = 0; s < 10; s++) {
      for (let i = 0; i < 100; i++) {
        expect(p.tryStart()).toBe(true);
        expect(p.tryStart()).toBe(false);
        clock.now += 10;
        p.end(true);
      }
    }
    // 300 agents refused at one instant: a second's worth of turns each second, never more than the cap.
    const waits = Array.from({ length: 300 }, () => p.retryAfterS());
    const perSecond = (s: number) => waits.filter((w) => w === s).length;
    expect(waits).toEqual([...waits].sort((a, b) => a - b));
    expect(perSecond(1)).toBeGreaterThanOrEqual(95);
    expect(perSecond(1)).toBeLessThanOrEqual(105);
    expect(Math.max(...waits)).toBe(3);
    // Turns are never handed out past the longest wait.
    for (let i = 0; i < 10_000; i++) p.retryAfterS();
    expect(p.retryAfterS()).toBe(MAX_PACED_RETRY_AFTER_S);
  });

  it("does not take a quiet hub's arrivals for its capacity", () => {
    const { clock, pacer: p } = pacer(10);
    // Agents trickling in at 5/s, never refused: no measure of what the hub can admit.
    for (let i = 0; i < 50; i++) {
      p.tryStart();
      clock.now += 200;
      p.end(true);
    }
    // A storm then: the first thousand refused all get the first second (the rate assumed before any measure).
    const waits = Array.from({ length: 1_000 }, () => p.retryAfterS());
    expect(new Set(waits)).toEqual(new Set([1]));
  });
});
