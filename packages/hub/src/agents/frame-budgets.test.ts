import { describe, expect, it } from "vitest";
import { RateBudget, SlidingBudget } from "./frame-budgets.js";

describe("RateBudget", () => {
  it("allows the limit within a second and starts afresh in the next", () => {
    const budget = new RateBudget(3);
    expect([0, 10, 20, 30].map((t) => budget.allow(1_000 + t))).toEqual([true, true, true, false]);
    expect(budget.allow(2_000)).toBe(true);
  });
});

describe("SlidingBudget", () => {
  it("is exceeded past the budget within the window, and forgets events older than the window", () => {
    const budget = new SlidingBudget(2, 60_000);
    expect([0, 1, 2].map((t) => budget.exceeded(t))).toEqual([false, false, true]);
    expect(budget.exceeded(60_002)).toBe(false);
  });
});
