import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import pino from "pino";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { BusHandlers, Takeover } from "./cluster-bus.js";
import { RedisBus } from "./redis-bus.js";
import { RedisKeys } from "./redis-scripts.js";
import { redisKeys } from "../../../../test/fixtures/cluster.js";
import { waitFor } from "../../../../test/fixtures/wait.js";

// The Redis side of ownership against this machine's Redis, a key prefix per test: what a claim, a
// release, a lapsed heartbeat and a dead replica leave in Redis.
const url = process.env.UPLINK_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const log = pino({ level: "silent" });
const redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1 });
const buses: RedisBus[] = [];
const prefixes: string[] = [];

afterEach(async () => {
  await Promise.all(buses.splice(0).map((b) => b.close()));
  for (const prefix of prefixes.splice(0)) {
    const keys = await redisKeys(prefix, url);
    if (keys.length > 0) await redis.del(...keys);
  }
});
afterAll(async () => {
  await redis.quit();
});

function freshKeys(): RedisKeys {
  const prefix = `uplink-bus-test-${randomBytes(5).toString("hex")}:`;
  prefixes.push(prefix);
  return new RedisKeys(prefix);
}

/** A bus whose handlers record what they were told. */
async function bus(keys: RedisKeys, replicaId: string, deadSweepMs?: number) {
  const told = { restored: 0, takenOver: [] as Takeover[] };
  const b = await RedisBus.connect({ url, prefix: keys.prefix, replicaId, log, ...(deadSweepMs === undefined ? {} : { deadSweepMs }) });
  const handlers: BusHandlers = { message: () => {}, events: () => {}, lost: () => {}, restored: () => void told.restored++, takenOver: (t) => void told.takenOver.push(...t) };
  b.listen(handlers);
  buses.push(b);
  return { bus: b, told };
}

describe("RedisBus ownership", () => {
  it("writes ownership on claim and release only, with the epoch exactly as claimed, and no TTL", async () => {
    const keys = freshKeys();
    const { bus: a } = await bus(keys, "hub_a");
    const one = await a.claim("agt_1");
    const two = await a.claim("agt_2");
    expect(two.epoch).toBeGreaterThan(one.epoch);
    expect(one.epoch).toBeGreaterThan(Date.now() * 1000 - 60e6); // never below the clock in µs
    expect(await redis.get(keys.agent("agt_1"))).toBe(`hub_a@${one.epoch}`);
    expect(await redis.pttl(keys.agent("agt_1"))).toBe(-1);
    expect(await redis.hgetall(keys.held("hub_a"))).toEqual({ agt_1: String(one.epoch), agt_2: String(two.epoch) });
    expect(await a.owners(["agt_1", "agt_2", "agt_none"])).toEqual(["hub_a", "hub_a", null]);

    await a.release("agt_2", two.epoch);
    await a.release("agt_1", one.epoch - 1); // an older connection's release leaves the newer one alone
    expect(await a.owners(["agt_1", "agt_2"])).toEqual(["hub_a", null]);
    expect(await redis.hgetall(keys.held("hub_a"))).toEqual({ agt_1: String(one.epoch) });
  });

  it("records a takeover for the previous live owner, delivered with its next heartbeat", async () => {
    const keys = freshKeys();
    const { bus: a, told } = await bus(keys, "hub_a");
    const { bus: b } = await bus(keys, "hub_b");
    const first = await a.claim("agt_1");
    const second = await b.claim("agt_1");
    expect(second.previous).toEqual({ replicaId: "hub_a", epoch: first.epoch });
    expect(await redis.hgetall(keys.held("hub_a"))).toEqual({});
    const [takeover] = await waitFor("the takeover delivered to A", async () => (told.takenOver.length > 0 ? told.takenOver : undefined));
    expect(takeover).toEqual({ t: "takeover", agentId: "agt_1", by: "hub_b", epoch: first.epoch });
    expect(await redis.exists(keys.taken("hub_a"))).toBe(0);
    expect(await a.owners(["agt_1"])).toEqual(["hub_b"]);
  });

  it("writes ownership again after its heartbeat lapsed; a newer connection elsewhere is reported, not overwritten", async () => {
    const keys = freshKeys();
    const { bus: a, told } = await bus(keys, "hub_a");
    const { bus: b } = await bus(keys, "hub_b");
    const one = await a.claim("agt_1");
    const two = await a.claim("agt_2");
    // Redis lost everything but one newer claim of agt_2 by B.
    await redis.del(keys.alive("hub_a"), keys.agent("agt_1"), keys.held("hub_a"), keys.agent("agt_2"));
    const newer = await b.claim("agt_2");
    await waitFor("A told to restore", async () => (told.restored > 0 ? true : undefined));
    const held = [{ agentId: "agt_1", epoch: one.epoch }, { agentId: "agt_2", epoch: two.epoch }];
    expect(await a.restore(held)).toEqual([{ held: held[1], owner: { replicaId: "hub_b", epoch: newer.epoch } }]);
    expect(await a.owners(["agt_1", "agt_2"])).toEqual(["hub_a", "hub_b"]);
    expect(await redis.smembers(keys.replicas())).toContain("hub_a");
  });

  it("reads a dead replica's agents as held by nobody at once, and a survivor deletes what it left", async () => {
    const keys = freshKeys();
    const { bus: a } = await bus(keys, "hub_a");
    const { bus: b } = await bus(keys, "hub_b", 100);
    for (let i = 0; i < 1_200; i++) await a.claim(`agt_${i}`);
    const mine = await b.claim("agt_b");
    expect(await b.owners(["agt_0", "agt_1199"])).toEqual(["hub_a", "hub_a"]);
    await a.close(); // gone without releasing anything: its heartbeat stops, as after kill -9
    expect(await b.owners(["agt_0", "agt_1199", "agt_b"])).toEqual([null, null, "hub_b"]);

    await waitFor("A's ownership deleted by B", async () => ((await redis.exists(keys.held("hub_a"))) === 0 ? true : undefined));
    expect(await redisKeys(`${keys.prefix}agent:`, url)).toEqual([keys.agent("agt_b")]);
    expect(await redis.get(keys.agent("agt_b"))).toBe(`hub_b@${mine.epoch}`);
    expect(await redis.smembers(keys.replicas())).toEqual(["hub_b"]);
  });
});

describe("RedisBus leases", () => {
  it("gives a lease to one replica at a time, renews it for its holder, and passes it on once released or lapsed", async () => {
    const keys = freshKeys();
    const { bus: a } = await bus(keys, "hub_a");
    const { bus: b } = await bus(keys, "hub_b");
    expect(await a.lease("scheduler", 60_000)).toBe(true);
    expect(await b.lease("scheduler", 60_000)).toBe(false);
    expect(await a.lease("scheduler", 60_000)).toBe(true); // a renewal
    expect(await redis.get(keys.lease("scheduler"))).toBe("hub_a");
    await b.releaseLease("scheduler"); // not its lease: nothing changes
    expect(await b.lease("scheduler", 60_000)).toBe(false);
    await a.releaseLease("scheduler");
    expect(await b.lease("scheduler", 300)).toBe(true);
    const pttl = await redis.pttl(keys.lease("scheduler"));
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(300);
    // b stops renewing (it died): the lease lapses and a takes it.
    await waitFor("the lease lapsed", async () => (await a.lease("scheduler", 60_000)) || undefined, { timeoutMs: 5_000, intervalMs: 50 });
    expect(await redis.get(keys.lease("scheduler"))).toBe("hub_a");
  });
});
