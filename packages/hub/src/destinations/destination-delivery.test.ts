import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DESTINATION_EVENT_TYPES } from "@uplink/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { waitFor } from "../../../../test/fixtures/wait.js";
import { inOrderPer, WebhookReceiver } from "../../test/webhook-receiver.js";
import { EventLog } from "../events/event-log.js";
import { createLogger } from "../logger.js";
import { HubMetrics } from "../metrics.js";
import { SqliteStore } from "../store/sqlite-store.js";
import { backoff } from "./destination-worker.js";
import { DestinationDelivery } from "./destination-delivery.js";

const SECRET = "a-webhook-secret-of-some-length";
const SETTINGS = { timeoutMs: 2_000, retryMinMs: 20, retryMaxMs: 200, fileMaxBytes: 10_000, fileKeep: 2, leaseMs: 1_000, scanMs: 50 };

describe("DestinationDelivery", () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const undo of cleanup.splice(0).reverse()) await undo();
  });

  /** A store, the real event log over it and the delivery, as buildHub wires them. */
  async function setUp(replicaId = "hub_test") {
    const store = new SqliteStore(":memory:");
    const log = createLogger("silent");
    const metrics = new HubMetrics();
    const events = new EventLog({ store, log, metrics });
    const delivery = new DestinationDelivery({ store, events, metrics, log, replicaId, embedded: true, settings: SETTINGS });
    cleanup.push(async () => {
      await delivery.stop();
      await events.drain();
      await store.close();
    });
    await delivery.start();
    return { store, events, delivery, metrics };
  }

  it("delivers schedule.result and policy.changed, and only those, to a webhook that fails at first: each once by Idempotency-Key, in order, signed", async () => {
    const { store, events, metrics } = await setUp();
    const receiver = await WebhookReceiver.start(SECRET, [500, 503, "drop", 500]);
    cleanup.push(() => receiver.close());
    await store.createDestination({ id: "dst_hook", kind: "webhook", url: receiver.url, secret: SECRET, path: null, createdAt: Date.now() });

    const published: { type: (typeof DESTINATION_EVENT_TYPES)[number]; data: Record<string, unknown> }[] = [];
    for (let i = 0; i < 12; i++) {
      const event = i % 4 === 3 ? { type: "policy.changed" as const, data: { policyId: "pol_1", agentId: `agt_${i}`, from: "pass", to: "fail" } } : { type: "schedule.result" as const, data: { scheduleId: `sch_${i % 2}`, agentId: "agt_1", run: i } };
      published.push(event);
      events.publish(event.type, event.data);
      // Noise the destinations never get.
      events.publish("agent.connected", { agentId: `agt_${i}` });
    }
    await waitFor("every event accepted", () => receiver.accepted.length === published.length, { timeoutMs: 10_000 });

    expect(receiver.accepted.map((e) => ({ type: e.type, data: e.data }))).toEqual(published.map((p) => ({ ...p, data: { ...p.data, at: expect.any(String) } })));
    expect(inOrderPer(receiver.accepted, "scheduleId")).toBe(true);
    expect(receiver.accepted.map((e) => e.id)).toEqual([...receiver.accepted.map((e) => e.id)].sort((a, b) => a - b));
    expect(receiver.requests.every((r) => r.signed && r.contentType === "application/json")).toBe(true);
    // The first event was tried five times, always under the same key.
    const first = receiver.requests.filter((r) => r.event.id === receiver.accepted[0]!.id);
    expect(first.map((r) => r.answer)).toEqual([500, 503, "drop", 500, 200]);
    expect(new Set(first.map((r) => r.key))).toEqual(new Set([`dst_hook.${receiver.accepted[0]!.id}`]));
    expect(receiver.duplicates).toBe(0);

    await waitFor("the cursor at the last event", async () => (await store.findDestination("dst_hook"))!.cursor === receiver.accepted.at(-1)!.id);
    expect(await store.findDestination("dst_hook")).toMatchObject({ lastError: null });
    expect(await store.destinationBacklog()).toEqual({ webhook: 0, file: 0 });
    const text = await metrics.registry.metrics();
    expect(text).toContain('uplink_destination_deliveries_total{kind="webhook"} 12');
    expect(text).toContain('uplink_destination_failures_total{kind="webhook"} 4');
  });

  it("stops a destination at once when it is deleted, and delivers nothing more to it", async () => {
    const { store, events, delivery } = await setUp();
    const receiver = await WebhookReceiver.start(SECRET, Array.from({ length: 1000 }, () => 500));
    cleanup.push(() => receiver.close());
    await store.createDestination({ id: "dst_gone", kind: "webhook", url: receiver.url, secret: SECRET, path: null, createdAt: Date.now() });
    events.publish("schedule.result", { scheduleId: "sch_1" });
    await waitFor("a failed attempt", async () => (await store.findDestination("dst_gone"))?.lastError === "answered 500");
    const attemptsBefore = receiver.attempts;
    await store.deleteDestination("dst_gone");
    await delivery.forget("dst_gone");
    events.publish("schedule.result", { scheduleId: "sch_2" });
    await events.drain();
    // Longer than many retry delays and scans. An attempt in flight at the deletion may still land (it
    // was aborted on the hub's side, not necessarily before the receiver read it); no new one starts.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(receiver.attempts - attemptsBefore).toBeLessThanOrEqual(1);
    expect(receiver.requests.filter((r) => r.event.data.scheduleId === "sch_2")).toEqual([]);
  });

  it("appends NDJSON lines to a file, fsync'd before the cursor moves, rotating by size and keeping the newest files", async () => {
    const { store, events } = await setUp();
    const dir = await mkdtemp(join(tmpdir(), "uplink-destination-"));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, "events.ndjson");
    await store.createDestination({ id: "dst_file", kind: "file", url: null, secret: null, path, createdAt: Date.now() });
    const padding = "x".repeat(900);
    for (let i = 0; i < 40; i++) events.publish("schedule.result", { scheduleId: "sch_f", n: i, padding });
    await events.drain();
    const last = (await store.listOutbox(0, 100)).at(-1)!.seq;
    await waitFor("the cursor at the last event", async () => (await store.findDestination("dst_file"))!.cursor === last);

    expect((await readdir(dir)).sort()).toEqual(["events.ndjson", "events.ndjson.1", "events.ndjson.2"]);
    const lines = async (file: string) => (await readFile(join(dir, file), "utf8")).trimEnd().split("\n").map((l) => JSON.parse(l) as { id: number; type: string; data: { n: number } });
    const kept = [...(await lines("events.ndjson.2")), ...(await lines("events.ndjson.1")), ...(await lines("events.ndjson"))];
    // Each file stays within the bound; the oldest rotated files are gone; what is kept is the newest, in order.
    for (const file of await readdir(dir)) expect((await readFile(join(dir, file))).length).toBeLessThanOrEqual(SETTINGS.fileMaxBytes);
    const ns = kept.map((l) => l.data.n);
    expect(ns).toEqual(Array.from({ length: ns.length }, (_, i) => 40 - ns.length + i));
    expect(kept.every((l) => l.type === "schedule.result")).toBe(true);
  });

  it("hands a destination over when its holder stops: the other replica resumes from the cursor", async () => {
    const a = await setUp("hub_a");
    const receiver = await WebhookReceiver.start(SECRET);
    cleanup.push(() => receiver.close());
    await a.store.createDestination({ id: "dst_ha", kind: "webhook", url: receiver.url, secret: SECRET, path: null, createdAt: Date.now() });
    a.events.publish("policy.changed", { policyId: "pol_1", n: 1 });
    await waitFor("the first event", () => receiver.accepted.length === 1);
    await a.delivery.stop();
    // A second delivery on the same store, as another replica would be.
    const log = createLogger("silent");
    const b = new DestinationDelivery({ store: a.store, events: a.events, metrics: new HubMetrics(), log, replicaId: "hub_b", embedded: false, settings: SETTINGS });
    cleanup.unshift(() => b.stop());
    await b.start();
    a.events.publish("policy.changed", { policyId: "pol_1", n: 2 });
    await waitFor("the second event", () => receiver.accepted.length === 2);
    expect(receiver.accepted.map((e) => e.data.n)).toEqual([1, 2]);
    expect(await a.store.findDestination("dst_ha")).toMatchObject({ claimedBy: "hub_b" });
  });
});

describe("backoff", () => {
  it("doubles from the minimum up to the cap, jittered down by at most half", () => {
    for (let n = 1; n <= 40; n++) {
      const ceiling = Math.min(60_000, 1000 * 2 ** (n - 1));
      const d = backoff(n, 1000, 60_000);
      expect(d).toBeGreaterThanOrEqual(ceiling / 2);
      expect(d).toBeLessThanOrEqual(ceiling);
    }
  });
});

