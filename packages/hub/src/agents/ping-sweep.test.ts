import { describe, expect, it } from "vitest";
import { PingSweep } from "./ping-sweep.js";

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("PingSweep", () => {
  it("sweeps every connection each interval, a slice per turn of the loop, the loop turning in between", async () => {
    // A turn counter: an immediate that queues itself counts the loop's turns.
    let turns = 0;
    let counting = true;
    const count = (): void => {
      turns++;
      if (counting) setImmediate(count);
    };
    setImmediate(count);
    const sweptAt = new Map<string, number>();
    const connections = ["a", "b", "c"].map((name) => ({ sweep: () => void sweptAt.set(name, turns) }));
    // No time to spend per slice: one connection per turn.
    const pings = new PingSweep(() => connections, 5, 0);
    pings.start();
    while (sweptAt.size < 3) await turn();
    pings.stop();
    counting = false;
    expect([...sweptAt.keys()]).toEqual(["a", "b", "c"]);
    expect(new Set(sweptAt.values()).size).toBe(3);
  });

  it("stops at once: a sweep under way leaves the rest of its connections alone, and no other starts", async () => {
    const swept: number[] = [];
    const connections = Array.from({ length: 100 }, (_, i) => ({
      sweep: () => {
        swept.push(i);
        if (i === 10) pings.stop();
      },
    }));
    const pings = new PingSweep(() => connections, 5, 0);
    pings.start();
    while (swept.length === 0) await new Promise((resolve) => setTimeout(resolve, 1));
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(swept).toEqual(Array.from({ length: 11 }, (_, i) => i));
  });
});
