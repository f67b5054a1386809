import { describe, expect, it } from "vitest";
import { WorkSlices } from "./work-slices.js";

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("WorkSlices", () => {
  it("runs jobs in order and settles each with what its work returned or threw", async () => {
    const slices = new WorkSlices(1_000_000);
    const order: number[] = [];
    const results = await Promise.allSettled([
      slices.run(() => order.push(1)),
      slices.run(() => {
        order.push(2);
        throw new Error("no");
      }),
      slices.run(async () => (order.push(3), "three")),
    ]);
    expect(order).toEqual([1, 2, 3]);
    expect(results.map((r) => (r.status === "fulfilled" ? r.value : (r.reason as Error).message))).toEqual([1, "no", "three"]);
    expect(slices.waiting).toBe(0);
  });

  it("lets the loop turn between slices: with no time to spend, one job per turn, I/O callbacks in between", async () => {
    const slices = new WorkSlices(0);
    const seen: string[] = [];
    const jobs = ["a", "b", "c"].map((name) => slices.run(() => seen.push(name)));
    // Queued after the first slice, before the second: it runs between them.
    setImmediate(() => seen.push("loop"));
    expect(slices.waiting).toBe(3);
    await Promise.all(jobs);
    expect(seen).toEqual(["a", "loop", "b", "c"]);
    await turn();
    expect(slices.waiting).toBe(0);
  });

  it("runs every waiting job in the next turn once unbound", async () => {
    const slices = new WorkSlices(0);
    const seen: string[] = [];
    const jobs = ["a", "b", "c"].map((name) => slices.run(() => seen.push(name)));
    slices.unbound();
    // Queued after the slice: it runs after all three.
    setImmediate(() => seen.push("loop"));
    await Promise.all(jobs);
    await turn();
    expect(seen).toEqual(["a", "b", "c", "loop"]);
  });
});
