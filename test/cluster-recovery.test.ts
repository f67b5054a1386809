import { describe, expect, it } from "vitest";
import { useClusters, useRedisServers, withPg, type ReplicaProcess } from "./fixtures/cluster.js";
import { useRawAgents } from "./fixtures/raw-agent.js";
import { useSseClients } from "./fixtures/sse.js";
import { waitFor } from "./fixtures/wait.js";

// What a replica that dies leaves behind, and the notices Pub/Sub can lose (DESIGN §3 "open work never
// stays open", §7). Real replicas over this machine's Redis and PostgreSQL, a fresh schema and key prefix.
const clusters = useClusters();
/** The epoch of an ownership value `<replicaId>@<epoch>` (0 for a value without one). */
const epochOf = (value: string): number => Number(value.split("@")[1] ?? 0);
const raw = useRawAgents();
const redisServers = useRedisServers();
const sse = useSseClients();

describe("cluster mode: recovery and reconciliation", () => {
  it("closes out a killed replica's open commands and fan-out as replica_lost, once, through one survivor; the fan-out's stream on another replica ends with done", async ({ annotate }) => {
    const cluster = await clusters.start({ replicas: 3 });
    const [a, b, c] = cluster.replicas as [ReplicaProcess, ReplicaProcess, ReplicaProcess];
    // Both agents sit on B, so A's work is commands A published to B: A owns their audit rows.
    const silent = await raw.enrolled(b, "silent-on-b");
    const answers = await raw.enrolled(b, "answers-on-b", { onQuery: (cmd, ag) => ag.respond(cmd) });

    const singles = [1, 2].map((i) => a.api.query(silent.agentId, { query: `single ${i}`, timeoutMs: 60_000 }).catch(() => undefined));
    const started = await a.api.post("/api/v1/queries", { query: "fan", timeoutMs: 60_000, targets: { agentIds: [silent.agentId, answers.agentId] } });
    expect(started.status, started.text).toBe(202);
    const fanoutId = started.body.id as string;
    await silent.agent.waitForQueries(3);
    await waitFor("the answered target stored", async () => (await c.api.get(`/api/v1/queries/${fanoutId}`)).body.counts?.ok === 1);
    const open = (await c.api.history({ limit: 50 })).queries.filter((q) => q.status === "pending");
    expect(open).toHaveLength(3);
    const stream = await sse.open(c.url, `/api/v1/queries/${fanoutId}/stream`, { token: cluster.adminToken });
    await stream.waitForCount(1, "result");

    const killedAt = performance.now();
    expect((await cluster.kill(a)).signal).toBe("SIGKILL");
    await Promise.all(singles);

    await stream.waitForEnd(30_000);
    const closedAfter = performance.now() - killedAt;
    expect(stream.events.map((e) => e.event)).toEqual(["result", "result", "done"]);
    expect(stream.events[1]!.json).toMatchObject({ agentId: silent.agentId, status: "error", error: { code: "replica_lost" }, resultSeq: 2 });
    expect(stream.events[2]!.json).toMatchObject({ ok: 1, error: 1, pending: 0 });
    await annotate(`kill -9 → open work closed out and the stream done after ${Math.round(closedAfter)} ms`);

    for (const q of open) {
      const row = await b.api.auditRow(q.correlationId);
      expect(row).toMatchObject({ status: "error", error: { code: "replica_lost" } });
      expect(row!.error!.message).toContain(a.hubId);
    }
    expect((await b.api.get(`/api/v1/queries/${fanoutId}`)).body).toMatchObject({ status: "done", counts: { pending: 0, ok: 1, error: 1 } });

    // Exactly once: one survivor closed it out and announced it; the other found nothing left.
    const closers = cluster.grep("closed out open work left by a hub that is gone");
    expect(closers).toHaveLength(1);
    expect(closers[0]!.line).toMatchObject({ owner: a.hubId, code: "replica_lost", commands: 2, fanouts: [fanoutId] });
    const closer = closers[0]!.hubId === b.hubId ? b : c;
    expect(await closer.api.metric("uplink_work_closed_out_total", { kind: "command", code: "replica_lost" })).toBe(2);
    expect(await closer.api.metric("uplink_work_closed_out_total", { kind: "fanout", code: "replica_lost" })).toBe(1);
    expect(await (closer === b ? c : b).api.metric("uplink_work_closed_out_total")).toBe(0);
    const events = await sse.open(b.url, "/api/v1/events?after=0", { token: cluster.adminToken });
    await events.waitForEvent("query.done of the fan-out", (e) => e.event === "query.done" && e.json?.fanoutId === fanoutId);
    for (const q of open.filter((row) => row.query.startsWith("single"))) {
      const done = await events.waitForEvent(`query.done of ${q.query}`, (e) => e.event === "query.done" && e.json?.correlationId === q.correlationId);
      expect(done.json).toMatchObject({ status: "error", code: "replica_lost" });
    }
    const fanoutDone = events.named("query.done").filter((e) => e.json?.fanoutId === fanoutId);
    expect(fanoutDone).toHaveLength(1);
    expect(fanoutDone[0]!.json).toMatchObject({ code: "replica_lost", targetCount: 2, counts: { ok: 1, error: 1 } });
  });

  it("closes the socket of an agent revoked straight in the store (no revoke notice at all) with 4403 within seconds", async ({ annotate }) => {
    const cluster = await clusters.start({ replicas: 2 });
    const [a] = cluster.replicas as [ReplicaProcess, ReplicaProcess];
    const { agent, agentId } = await raw.enrolled(a, "revoked-behind-the-back");
    const t0 = performance.now();
    // What a lost Pub/Sub revoke notice leaves: the store says revoked, nobody told the owner.
    await withPg((pg) => pg.query(`UPDATE ${cluster.schema}.agents SET revoked_at = ${Date.now()}, status = 'offline' WHERE id = '${agentId}'`));
    const closed = await agent.closed;
    expect(closed.code).toBe(4403);
    await annotate(`revoked in the store → socket closed after ${Math.round(performance.now() - t0)} ms`);
    // The close frame can reach the agent before the replica's log line reaches this process: wait for it.
    const line = await a.waitForLog("agent is revoked in the store but its socket is open here (the notice was lost); closing it");
    expect(line).toMatchObject({ agentId });
    expect(await a.api.metric("uplink_cluster_reconciled_total", { action: "revoked" })).toBe(1);
  });

  it("closes the socket of an agent revoked through another replica while Redis is down (the notice cannot travel) with 4403, and serves again once Redis is back", async () => {
    const redis = await redisServers.start();
    const cluster = await clusters.start({ replicas: 2, redisUrl: redis.url });
    const [a, b] = cluster.replicas as [ReplicaProcess, ReplicaProcess];
    const { agent, agentId } = await raw.enrolled(a, "revoked-during-outage");
    const other = await raw.enrolled(a, "stays-during-outage", { onQuery: (cmd, ag) => ag.respond(cmd) });
    await redis.stop();
    await waitFor("B's bus down", async () => (await b.api.get("/readyz", { token: null })).status === 503);
    expect((await b.api.delete(`/api/v1/agents/${agentId}`)).status).toBe(204);
    expect((await agent.closed).code).toBe(4403);
    expect(await a.waitForLog((l) => l.msg.includes("the notice was lost"))).toMatchObject({ agentId });
    await redis.start();
    await waitFor("served through B again", async () => (await b.api.query(other.agentId, { query: "after the outage" })).status === 200, { timeoutMs: 15_000 });
  });

  it("ignores a late takeover notice for an older connection: an agent that bounced A → B → A keeps its newest socket", async () => {
    const cluster = await clusters.start({ replicas: 2 });
    const [a, b] = cluster.replicas as [ReplicaProcess, ReplicaProcess];
    const { agent: first, agentId, agentKey } = await raw.enrolled(a, "bouncer", { onQuery: (cmd, ag) => ag.respond(cmd) });
    const ownedByA = async () => {
      const value = await cluster.ownership(agentId);
      return value?.startsWith(a.hubId) ? value : undefined;
    };
    const firstEpoch = epochOf(await waitFor("A's ownership", ownedByA));

    const second = await raw.connect(b.agentUrl, { agentKey, hostname: "bouncer", onQuery: (cmd, ag) => ag.respond(cmd) });
    expect((await first.closed).code).toBe(4409);
    const third = await raw.connect(a.agentUrl, { agentKey, hostname: "bouncer", onQuery: (cmd, ag) => ag.respond(cmd) });
    expect((await second.closed).code).toBe(4409);
    const currentEpoch = epochOf(
      await waitFor("A's newer ownership", async () => {
        const value = await cluster.ownership(agentId);
        return value?.startsWith(a.hubId) && (epochOf(value) > firstEpoch || epochOf(value) === 0) ? value : undefined;
      }),
    );

    // B's notice for the first connection, arriving only now.
    expect(await cluster.publishTo(a, { t: "takeover", agentId, by: b.hubId, epoch: firstEpoch })).toBe(1);
    // Whichever comes first: A saying it ignored the notice, or the newest socket closing (the bug).
    await Promise.race([a.waitForLog((l) => l.msg === "takeover notice for an older connection of the agent; ignored" && l.epoch === firstEpoch), third.closed]);
    expect(third.isOpen, "the newest socket was closed by a notice meant for an older connection").toBe(true);
    const served = await b.api.query(agentId, { query: "still here" });
    expect(served.status, served.text).toBe(200);
    expect(third.queries.map((q) => q.query)).toContain("still here");
    expect(await a.api.metric("uplink_cluster_reconciled_total", { action: "stale_notice" })).toBe(1);

    // A notice for the current connection still closes it.
    await cluster.publishTo(a, { t: "takeover", agentId, by: b.hubId, epoch: currentEpoch });
    expect((await third.closed).code).toBe(4409);
  });

  it("closes a socket whose ownership another replica claimed with a newer epoch even when the takeover notice never came", async ({ annotate }) => {
    const cluster = await clusters.start({ replicas: 2 });
    const [a, b] = cluster.replicas as [ReplicaProcess, ReplicaProcess];
    const { agent, agentId } = await raw.enrolled(a, "taken-over-silently");
    const owned = await waitFor("A's ownership", async () => {
      const value = await cluster.ownership(agentId);
      return value?.startsWith(a.hubId) ? value : undefined;
    });
    const t0 = performance.now();
    // What B's claim of a newer connection writes, without the notice to A that normally follows it.
    expect(await cluster.claimWithoutNotice(agentId, b)).toBeGreaterThan(epochOf(owned));
    expect((await agent.closed).code).toBe(4409);
    await annotate(`ownership taken without a notice → socket closed after ${Math.round(performance.now() - t0)} ms`);
    expect(await a.waitForLog((l) => l.msg.includes("its notice was lost"))).toMatchObject({ agentId, by: b.hubId });
    expect(await a.api.metric("uplink_cluster_reconciled_total", { action: "taken_over" })).toBe(1);
  });
});
