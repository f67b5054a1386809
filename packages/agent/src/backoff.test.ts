import { RECONNECT_BASE_MS, RECONNECT_CAP_MS } from "@uplink/protocol";
import { describe, expect, it } from "vitest";
import { Backoff, backoffDelay } from "./backoff.js";

const almostOne = () => 0.999_999;

describe("backoffDelay", () => {
  it("draws uniformly below base * 2^attempt", () => {
    expect(backoffDelay(0, 1_000, 60_000, almostOne)).toBe(999);
    expect(backoffDelay(3, 1_000, 60_000, almostOne)).toBe(7_999);
    expect(backoffDelay(3, 1_000, 60_000, () => 0.5)).toBe(4_000);
  });

  it("can be zero: the jitter is full, not half", () => {
    expect(backoffDelay(5, 1_000, 60_000, () => 0)).toBe(0);
  });

  it("never exceeds the cap, even when 2^attempt overflows", () => {
    expect(backoffDelay(6, 1_000, 60_000, almostOne)).toBe(59_999);
    expect(backoffDelay(5_000, 1_000, 60_000, almostOne)).toBe(59_999);
  });
});

describe("Backoff", () => {
  it("grows the ceiling with each attempt up to the cap", () => {
    const backoff = new Backoff(RECONNECT_BASE_MS, RECONNECT_CAP_MS, almostOne);
    const delays = Array.from({ length: 9 }, () => backoff.next());
    expect(delays).toEqual([999, 1_999, 3_999, 7_999, 15_999, 31_999, 59_999, 59_999, 59_999]);
    expect(backoff.attempt).toBe(9);
  });

  it("starts over from the base after reset", () => {
    const backoff = new Backoff(100, 10_000, almostOne);
    backoff.next();
    backoff.next();
    backoff.next();
    backoff.reset();
    expect(backoff.attempt).toBe(0);
    expect(backoff.next()).toBe(99);
  });

  it("takes a lower cap for one wait (a hub restart), and gives attempt 0's wait without counting it", () => {
    const backoff = new Backoff(1_000, 60_000, almostOne);
    const delays = Array.from({ length: 5 }, () => backoff.next(8_000));
    expect(delays).toEqual([999, 1_999, 3_999, 7_999, 7_999]);
    expect(backoff.first()).toBe(999);
    expect(backoff.attempt).toBe(5);
    expect(backoff.next()).toBe(31_999);
  });

  it("stays within [0, ceiling) with the real random source", () => {
    const backoff = new Backoff(10, 1_000);
    for (let attempt = 0; attempt < 20; attempt += 1) {
      const ceiling = Math.min(1_000, 10 * 2 ** attempt);
      const delay = backoff.next();
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(ceiling);
    }
  });
});
