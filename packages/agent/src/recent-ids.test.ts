import { describe, expect, it } from "vitest";
import { RecentIds } from "./recent-ids.js";

describe("RecentIds", () => {
  it("tells a repeated id from a new one and forgets the oldest past its capacity", () => {
    const ids = new RecentIds(3);
    expect(["a", "b", "c"].map((id) => ids.add(id))).toEqual([true, true, true]);
    expect(ids.add("b")).toBe(false);
    expect(ids.add("d")).toBe(true);
    expect(ids.size).toBe(3);
    // "a" was the oldest: forgotten, so it counts as new again; "d" is still remembered.
    expect(ids.add("a")).toBe(true);
    expect(ids.add("d")).toBe(false);
  });

  it("refuses a capacity that is not a positive integer", () => {
    expect(() => new RecentIds(0)).toThrow(RangeError);
    expect(() => new RecentIds(1.5)).toThrow(RangeError);
  });
});
