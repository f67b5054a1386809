import { afterEach, describe, expect, it } from "vitest";
import { WebhookReceiver } from "../packages/hub/test/webhook-receiver.js";
import { useClusters, type ReplicaProcess } from "./fixtures/cluster.js";
import { waitFor } from "./fixtures/wait.js";
import type { DestinationView } from "../packages/protocol/dist/index.js";

// Destinations in cluster mode (two replicas, this machine's Redis and PostgreSQL): one replica delivers a
// destination at a time, under a lease in the store; `kill -9` of that replica hands the destination to
// the other, which resumes from the cursor. As in destinations.test.ts the delivered type is `query.done`
// (UPLINK_TEST_DESTINATION_EVENTS), as nothing emits the product's types on this branch yet.
const clusters = useClusters();
const SECRET = "cluster-webhook-secret-0123456789";

/** A fan-out that targets no agent: one `query.done` at once. */
async function emitQueryDone(replica: ReplicaProcess): Promise<string> {
  const res = await replica.api.post("/api/v1/queries", { query: "select 1", targets: { labels: { destinations: "none" } } });
  expect(res.status).toBe(202);
  return res.body.id as string;
}

describe("cluster mode: destinations", () => {
  let hook: WebhookReceiver | undefined;
  afterEach(async () => {
    await hook?.close();
    hook = undefined;
  });

  it("one replica delivers; killed, the other takes over within seconds and nothing is lost (duplicates only by Idempotency-Key)", async () => {
    const cluster = await clusters.start({ replicas: 2, env: { UPLINK_TEST_DESTINATION_EVENTS: "query.done" }, args: ["--destination-retry-min", "100ms", "--destination-retry-max", "1s"] });
    const [a, b] = cluster.replicas as [ReplicaProcess, ReplicaProcess];
    hook = await WebhookReceiver.start(SECRET);
    const dest = (await a.api.post<DestinationView>("/api/v1/destinations", { kind: "webhook", url: hook.url, secret: SECRET })).body;
    const holderId = await waitFor("a replica delivering the destination", () => cluster.grep("delivering destination").find((l) => l.line.destinationId === dest.id)?.hubId);
    const holder = holderId === a.hubId ? a : b;
    const other = holder === a ? b : a;

    const fanouts: string[] = [];
    for (let i = 0; i < 10; i++) fanouts.push(await emitQueryDone(other));
    // Killed mid-stream: some of these events are delivered, some in flight, some still owed.
    await waitFor("the first events delivered", () => hook!.accepted.length >= 3);
    // Only the holder delivers, under the lease.
    expect(other.grep("delivering destination")).toEqual([]);
    await cluster.kill(holder);
    for (let i = 0; i < 10; i++) fanouts.push(await emitQueryDone(other));
    await waitFor("the other replica delivering", () => other.grep("delivering destination").some((l) => l.destinationId === dest.id), { timeoutMs: 10_000 });
    await waitFor("every event accepted", () => hook!.accepted.length >= fanouts.length, { timeoutMs: 15_000 });

    expect(new Set(hook.accepted.map((e) => e.data.fanoutId))).toEqual(new Set(fanouts));
    expect(hook.accepted).toHaveLength(fanouts.length);
    const ids = hook.accepted.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(hook.requests.every((r) => r.signed && r.key === `${dest.id}.${r.event.id}`)).toBe(true);
    // The cursor moves once the last answer is in: it reaches the last event.
    await waitFor("the cursor at the last event", async () => (await other.api.get<DestinationView>(`/api/v1/destinations/${dest.id}`)).body.deliveredSeq === ids.at(-1));
  });

  it("a destination deleted through one replica stops being delivered by the other", async () => {
    const cluster = await clusters.start({ replicas: 2, env: { UPLINK_TEST_DESTINATION_EVENTS: "query.done" }, args: ["--destination-retry-min", "100ms", "--destination-retry-max", "200ms"] });
    const [a, b] = cluster.replicas as [ReplicaProcess, ReplicaProcess];
    hook = await WebhookReceiver.start(SECRET, Array.from({ length: 10_000 }, () => 500));
    const dest = (await a.api.post<DestinationView>("/api/v1/destinations", { kind: "webhook", url: hook.url, secret: SECRET })).body;
    const holderId = await waitFor("a replica delivering the destination", () => cluster.grep("delivering destination").find((l) => l.line.destinationId === dest.id)?.hubId);
    const holder = holderId === a.hubId ? a : b;
    const other = holder === a ? b : a;
    await emitQueryDone(other);
    await waitFor("attempts failing", () => hook!.attempts >= 2);
    expect((await other.api.delete(`/api/v1/destinations/${dest.id}`)).status).toBe(204);
    await waitFor("the holder stopped", () => holder.grep("destination delivery stopped").some((l) => l.destinationId === dest.id));
    const attempts = hook.attempts;
    const after = await emitQueryDone(other);
    await waitFor("the new event stored", async () => (await other.api.metric("uplink_events_published_total", { type: "query.done" })) === 2);
    // An attempt in flight when the holder stopped may still land; no new one starts, the new event goes nowhere.
    expect(hook.attempts - attempts).toBeLessThanOrEqual(1);
    expect(hook.requests.filter((r) => r.event.data.fanoutId === after)).toEqual([]);
    expect(await other.api.metric("uplink_destination_backlog", { kind: "webhook" })).toBe(0);
  });
});
