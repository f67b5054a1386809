/**
 * The destinations' part of the Store contract: the outbox written with the event log, cursors, leases
 * and pruning behind the slowest destination. Run by describeStoreContract on every engine.
 */
import { expect, it } from "vitest";
import type { HubEventType, NewDestination, Store } from "../src/store/store.js";

const DELIVERED: HubEventType[] = ["schedule.result", "policy.changed"];

const webhook = (id: string, createdAt = 1000): NewDestination => ({ id, kind: "webhook", url: "http://127.0.0.1:9/hook", secret: "s".repeat(16), path: null, createdAt });
const file = (id: string, createdAt = 1000): NewDestination => ({ id, kind: "file", url: null, secret: null, path: "/tmp/out.ndjson", createdAt });

export function destinationCases(current: () => Store): void {
  const append = (types: HubEventType[]) =>
    current().appendEvents(types.map((type, i) => ({ type, data: type === "policy.changed" ? { policyId: `pol_${i}` } : { scheduleId: `sch_${i}` }, createdAt: 10 + i })), DELIVERED);

  it("copies events of the delivered types into the outbox with their seq, and no others", async () => {
    const store = current();
    const stored = await append(["agent.connected", "schedule.result", "policy.changed", "query.done", "schedule.result"]);
    const outbox = await store.listOutbox(0, 100);
    expect(outbox).toEqual([stored[1], stored[2], stored[4]]);
    expect(await store.listOutbox(stored[2]!.seq, 100)).toEqual([stored[4]]);
    expect(await store.listOutbox(0, 1)).toEqual([stored[1]]);
    // No types named: nothing goes to the outbox.
    await store.appendEvents([{ type: "schedule.result", data: { scheduleId: "x" }, createdAt: 99 }]);
    expect(await store.listOutbox(stored[4]!.seq, 100)).toEqual([]);
  });

  it("creates destinations after the newest event, lists, finds and deletes them", async () => {
    const store = current();
    const before = await append(["schedule.result"]);
    const created = await store.createDestination(webhook("dst_a"));
    expect(created).toEqual({ ...webhook("dst_a"), cursor: before[0]!.seq, lastError: null, lastErrorAt: null, claimedBy: null, leaseUntil: null });
    await store.createDestination(file("dst_b", 2000));
    expect((await store.listDestinations()).map((d) => d.id)).toEqual(["dst_a", "dst_b"]);
    expect(await store.findDestination("dst_b")).toMatchObject({ kind: "file", path: "/tmp/out.ndjson", url: null, secret: null });
    expect(await store.findDestination("dst_none")).toBeUndefined();
    expect(await store.deleteDestination("dst_a")).toBe(true);
    expect(await store.deleteDestination("dst_a")).toBe(false);
    expect((await store.listDestinations()).map((d) => d.id)).toEqual(["dst_b"]);
  });

  it("leases a destination to one replica at a time; a released or lapsed lease can be taken", async () => {
    const store = current();
    await store.createDestination(webhook("dst_l"));
    expect(await store.claimDestination("dst_l", "hub_a", 60_000)).toBe(true);
    expect(await store.claimDestination("dst_l", "hub_b", 60_000)).toBe(false);
    expect(await store.claimDestination("dst_l", "hub_a", 60_000)).toBe(true);
    expect(await store.findDestination("dst_l")).toMatchObject({ claimedBy: "hub_a" });
    await store.releaseDestinations("hub_b");
    expect(await store.claimDestination("dst_l", "hub_b", 60_000)).toBe(false);
    await store.releaseDestinations("hub_a");
    expect(await store.claimDestination("dst_l", "hub_b", 1)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await store.claimDestination("dst_l", "hub_a", 60_000)).toBe(true);
    await store.releaseDestinations(null);
    expect(await store.findDestination("dst_l")).toMatchObject({ claimedBy: null, leaseUntil: null });
    expect(await store.claimDestination("dst_missing", "hub_a", 60_000)).toBe(false);
  });

  it("advances the cursor only forward and only for the lease holder, and records failures", async () => {
    const store = current();
    await store.createDestination(webhook("dst_c"));
    expect(await store.advanceDestination("dst_c", "hub_a", 5)).toBe(false);
    await store.claimDestination("dst_c", "hub_a", 60_000);
    expect(await store.recordDestinationFailure("dst_c", "hub_a", "answered 500", 1234)).toBe(true);
    expect(await store.recordDestinationFailure("dst_c", "hub_b", "answered 500", 1234)).toBe(false);
    expect(await store.findDestination("dst_c")).toMatchObject({ lastError: "answered 500", lastErrorAt: 1234 });
    expect(await store.advanceDestination("dst_c", "hub_a", 7)).toBe(true);
    expect(await store.advanceDestination("dst_c", "hub_a", 3)).toBe(true);
    expect(await store.findDestination("dst_c")).toMatchObject({ cursor: 7, lastError: null, lastErrorAt: null });
    await store.deleteDestination("dst_c");
    expect(await store.advanceDestination("dst_c", "hub_a", 9)).toBe(false);
  });

  it("counts the backlog per kind and prunes the outbox only behind the slowest destination", async () => {
    const store = current();
    await store.createDestination(webhook("dst_slow"));
    await store.createDestination(file("dst_fast"));
    const stored = await append(["schedule.result", "policy.changed", "schedule.result", "agent.connected"]);
    expect(await store.destinationBacklog()).toEqual({ webhook: 3, file: 3 });
    await store.claimDestination("dst_fast", "hub_a", 60_000);
    await store.advanceDestination("dst_fast", "hub_a", stored[2]!.seq);
    expect(await store.destinationBacklog()).toEqual({ webhook: 3, file: 0 });
    expect(await store.pruneOutbox(100)).toBe(0);
    await store.claimDestination("dst_slow", "hub_a", 60_000);
    await store.advanceDestination("dst_slow", "hub_a", stored[0]!.seq);
    expect(await store.pruneOutbox(100)).toBe(1);
    expect((await store.listOutbox(0, 100)).map((e) => e.seq)).toEqual([stored[1]!.seq, stored[2]!.seq]);
    // With no destination left, the outbox owes nobody: a destination created later starts after it.
    await store.deleteDestination("dst_slow");
    await store.deleteDestination("dst_fast");
    expect(await store.pruneOutbox(1)).toBe(1);
    expect(await store.pruneOutbox(100)).toBe(1);
    expect(await store.listOutbox(0, 100)).toEqual([]);
    expect(await store.destinationBacklog()).toEqual({ webhook: 0, file: 0 });
  });
}
