import { afterEach, describe, expect, it } from "vitest";
import { inOrderPer, WebhookReceiver } from "../packages/hub/test/webhook-receiver.js";
import { useClusters, type ReplicaProcess } from "./fixtures/cluster.js";
import { useRawAgents } from "./fixtures/raw-agent.js";
import { changingAnswers, everyEventAccepted, owedEvents, runsInOrder, startProducing, stopProducing } from "./fixtures/scheduled-events.js";
import { useSseClients } from "./fixtures/sse.js";
import { waitFor } from "./fixtures/wait.js";
import type { DestinationView } from "../packages/protocol/dist/index.js";

// Destinations in cluster mode (two replicas, this machine's Redis and PostgreSQL): one replica delivers a
// destination at a time, under a lease in the store; `kill -9` of that replica hands the destination to
// the other, which resumes from the cursor. The events are the product's: the `schedule.result` of a
// differential schedule and the `policy.changed` of a policy over scripted agents whose answers change at
// every run (fixtures/scheduled-events.ts), the agents held by the replica that stays.
const clusters = useClusters();
const raw = useRawAgents();
const sse = useSseClients();
const SECRET = "cluster-webhook-secret-0123456789";

/** Creates a webhook destination and finds which replica delivers it: `[holder, other]`. */
async function deliveredBy(cluster: { replicas: ReplicaProcess[]; grep: (text: string) => { hubId: string; line: Record<string, unknown> }[] }, url: string) {
  const [a, b] = cluster.replicas as [ReplicaProcess, ReplicaProcess];
  const dest = (await a.api.post<DestinationView>("/api/v1/destinations", { kind: "webhook", url, secret: SECRET })).body;
  const holderId = await waitFor("a replica delivering the destination", () => cluster.grep("delivering destination").find((l) => l.line.destinationId === dest.id)?.hubId);
  return { dest, holder: holderId === a.hubId ? a : b, other: holderId === a.hubId ? b : a };
}

describe("cluster mode: destinations", () => {
  let hook: WebhookReceiver | undefined;
  afterEach(async () => {
    await hook?.close();
    hook = undefined;
  });

  it("one replica delivers; killed mid-stream, the other takes over and nothing is lost (duplicates only as at-least-once allows, by Idempotency-Key)", async () => {
    const cluster = await clusters.start({ replicas: 2, args: ["--destination-retry-min", "100ms", "--destination-retry-max", "1s"] });
    hook = await WebhookReceiver.start(SECRET, [500, "drop"]);
    const { dest, holder, other } = await deliveredBy(cluster, hook.url);
    const agents = [await raw.enrolled(other, "cdst-a", { onQuery: changingAnswers() }), await raw.enrolled(other, "cdst-b", { onQuery: changingAnswers() })];
    const producers = await startProducing(other.api, agents.map((a) => a.agentId), { schedules: ["processes"], policy: "sshd running" });

    // Killed mid-stream: some events delivered, maybe one in flight, more still to come.
    await waitFor("the first events delivered", () => hook!.accepted.length >= 4, { timeoutMs: 15_000 });
    // Only the holder delivers, under the lease.
    expect(other.grep("delivering destination")).toEqual([]);
    await cluster.kill(holder);
    const acceptedAtKill = Math.max(...hook.accepted.map((e) => e.id));
    await waitFor("the other replica delivering", () => other.grep("delivering destination").some((l) => l.destinationId === dest.id), { timeoutMs: 10_000 });
    await waitFor("results after the takeover accepted", () => hook!.accepted.filter((e) => e.id > acceptedAtKill && e.type === "schedule.result").length >= 4, { timeoutMs: 20_000 });
    await stopProducing(other.api, producers);

    // The whole log as the surviving replica reads it from the store, against what the receiver accepted.
    const log = await sse.open(other.url, "/api/v1/events?after=0", { token: cluster.adminToken });
    const owed = await everyEventAccepted(log, hook);
    expect(hook.accepted).toEqual(owed);
    expect(owed.some((e) => e.type === "policy.changed")).toBe(true);
    expect(inOrderPer(hook.accepted, "scheduleId")).toBe(true);
    expect(runsInOrder(hook.accepted)).toBe(true);
    expect(hook.requests.every((r) => r.signed && r.key === `${dest.id}.${r.event.id}`)).toBe(true);
    // A duplicate is only a redelivery of what the killed replica had sent before its cursor moved.
    const seen = new Set<string>();
    for (const r of hook.requests.filter((r) => r.answer === 200)) {
      if (seen.has(r.key!)) expect(r.event.id).toBeLessThanOrEqual(acceptedAtKill + 1);
      seen.add(r.key!);
    }
    console.log(`destination takeover: ${owed.length} events, ${hook.duplicates} redelivered`);
    await waitFor("the cursor at the last event", async () => (await other.api.get<DestinationView>(`/api/v1/destinations/${dest.id}`)).body.deliveredSeq === owed.at(-1)!.id);
  });

  it("a destination deleted through one replica stops being delivered by the other", async () => {
    const cluster = await clusters.start({ replicas: 2, args: ["--destination-retry-min", "100ms", "--destination-retry-max", "200ms"] });
    hook = await WebhookReceiver.start(SECRET, Array.from({ length: 10_000 }, () => 500));
    const { dest, holder, other } = await deliveredBy(cluster, hook.url);
    const { agentId } = await raw.enrolled(other, "cdel-a", { onQuery: changingAnswers() });
    const log = await sse.open(other.url, "/api/v1/events?after=0", { token: cluster.adminToken });
    const producers = await startProducing(other.api, [agentId], { schedules: ["processes"] });
    await waitFor("attempts failing", () => hook!.attempts >= 2, { timeoutMs: 15_000 });
    expect((await other.api.delete(`/api/v1/destinations/${dest.id}`)).status).toBe(204);
    await waitFor("the holder stopped", () => holder.grep("destination delivery stopped").some((l) => l.destinationId === dest.id));
    const attempts = hook.attempts;
    const lastAtStop = Math.max(0, ...owedEvents(log).map((e) => e.id));
    await log.waitForEvent("a result after the delete", (e) => e.event === "schedule.result" && Number(e.id) > lastAtStop);
    await stopProducing(other.api, producers);
    // An attempt in flight when the holder stopped may still land; no new one starts, new events go nowhere.
    expect(hook.attempts - attempts).toBeLessThanOrEqual(1);
    expect(hook.requests.filter((r) => r.event.id > lastAtStop)).toEqual([]);
    expect(await other.api.metric("uplink_destination_backlog", { kind: "webhook" })).toBe(0);
  });
});
