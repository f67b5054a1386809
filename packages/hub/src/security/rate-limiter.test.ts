import { describe, expect, it } from "vitest";
import { RateLimiter } from "./rate-limiter.js";

describe("RateLimiter", () => {
  it("allows `limit` attempts per key per window and says how long to wait", () => {
    let now = 0;
    const limiter = new RateLimiter(2, 60_000, () => now);
    expect(limiter.take("a")).toBe(0);
    expect(limiter.take("a")).toBe(0);
    expect(limiter.take("b")).toBe(0);
    now = 15_000;
    expect(limiter.take("a")).toBe(45);
    now = 60_000;
    expect(limiter.take("a")).toBe(0);
  });
});
