import { describe, expect, it } from "vitest";
import { TEST_DATABASE_URL, useClusters, useRedisServers, useTcpProxies, type ReplicaProcess } from "./fixtures/cluster.js";
import { sumMetric } from "./fixtures/http.js";
import { useRawAgents } from "./fixtures/raw-agent.js";
import { useSseClients } from "./fixtures/sse.js";
import { sleep, waitFor } from "./fixtures/wait.js";

// Outages of the servers a cluster depends on, with three real replicas. Registered before the clusters,
// so their afterEach runs after the replicas have stopped (vitest runs after-hooks in reverse).
const redisServers = useRedisServers();
const proxies = useTcpProxies();
const clusters = useClusters();
const raw = useRawAgents();
const sse = useSseClients();

const readyStatus = async (r: ReplicaProcess) => (await r.api.get("/readyz", { token: null })).status;

/** Resolves with how long `call` took and what it returned. */
async function timed<T>(call: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await call();
  return { ms: performance.now() - t0, value };
}

describe("cluster mode: Redis restarted", () => {
  it("fails cross-replica commands with 503 bus_unavailable during the outage, keeps local ones working, and resumes by itself", async ({ annotate }) => {
    const redis = await redisServers.start();
    const cluster = await clusters.start({ replicas: 3, redisUrl: redis.url });
    const [a, b, c] = cluster.replicas as [ReplicaProcess, ReplicaProcess, ReplicaProcess];
    const answering = await raw.enrolled(a, "answers-on-a", { onQuery: (cmd, ag) => ag.respond(cmd) });
    const silent = await raw.enrolled(a, "silent-on-a");
    expect((await b.api.query(answering.agentId, { query: "select 'before'" })).status).toBe(200);

    // One command in flight through C when Redis goes: its reply could never come back.
    const inFlight = timed(() => c.api.query(silent.agentId, { query: "in flight", timeoutMs: 20_000 }));
    await silent.agent.waitForQueries(1);
    await redis.stop("SIGKILL");
    const cut = performance.now();

    const during = await timed(() => b.api.query(answering.agentId, { query: "during" }));
    expect(during.value.status, during.value.text).toBe(503);
    expect(during.value.body.error.code).toBe("bus_unavailable");
    expect(during.ms).toBeLessThan(1_000);
    const pending = await inFlight;
    expect(pending.value.status, pending.value.text).toBe(503);
    expect(pending.value.body.error.code).toBe("bus_unavailable");
    expect(performance.now() - cut, "the in-flight caller learns within seconds, not at its 20 s deadline").toBeLessThan(5_000);
    for (const r of [a, b, c]) await waitFor(`${r.hubId} /readyz 503`, async () => (await readyStatus(r)) === 503, { timeoutMs: 3_000 });
    // The replica holding the socket still serves it; reads from the store still work everywhere.
    const local = await a.api.query(answering.agentId, { query: "local during" });
    expect(local.status, local.text).toBe(200);
    expect((await c.api.get("/api/v1/agents")).status).toBe(200);
    await sleep(1_000);
    for (const r of [a, b, c]) expect(r.running, `${r.hubId} still running`).toBe(true);

    // Redis back, empty (no persistence): subscriptions, heartbeats and ownership come back by themselves.
    const events = await sse.open(b.url, "/api/v1/events", { token: b.adminToken });
    await redis.start();
    const back = performance.now();
    for (const r of [a, b, c]) await waitFor(`${r.hubId} /readyz 200`, async () => (await readyStatus(r)) === 200, { timeoutMs: 5_000 });
    const readyAfter = performance.now() - back;
    await waitFor("cross-replica queries answer again", async () => (await b.api.query(answering.agentId, { query: "after" })).status === 200, { timeoutMs: 8_000, intervalMs: 100 });
    const servedAfter = performance.now() - back;
    await annotate(`Redis restart → /readyz 200 after ${Math.round(readyAfter)} ms, cross-replica queries after ${Math.round(servedAfter)} ms`);
    // Ownership is written again as soon as the owner is back on Redis (its mappings have no TTL to wait
    // out): within a few heartbeats of /readyz, with room for a loaded machine.
    expect(servedAfter - readyAfter).toBeLessThan(3_000);
    for (const via of [b, c]) {
      const res = await via.api.query(answering.agentId, { query: `after via ${via.hubId}` });
      expect(res.status, res.text).toBe(200);
      expect(res.body.result.rows).toEqual([[`after via ${via.hubId}`, expect.any(String), res.correlationId]]);
    }
    expect((await c.api.agent(answering.agentId)).body.status).toBe("online");
    // The command C gave up on during the outage is answered now: A publishes the reply, C drops it as
    // an orphan (counted and logged under its correlationId), and nobody else gets it.
    const orphaned = async () => sumMetric((await c.api.scrape()).text, "uplink_cluster_commands_total", { stage: "orphaned" });
    const orphansBefore = await orphaned();
    const [stale] = silent.agent.queries;
    silent.agent.respond(stale!);
    await waitFor("the late reply counted as an orphan on C", async () => (await orphaned()) === orphansBefore + 1);
    // Each hub's log lines reach the test through its stdout, after the counter the test reads; and A logs
    // once its publish call returns, which may be after C has counted the reply.
    const logged = (hub: typeof a, msg: string) => waitFor(`${hub.hubId} logged "${msg}"`, async () => hub.grep(stale!.correlationId!).some((l) => l.msg === msg));
    await logged(c, "reply from another replica matches no pending command; dropped");
    await logged(a, "reply published to the requesting replica");
    // The shared events channel too: B's stream sees an agent connecting to A after the restart.
    const newcomer = await raw.enrolled(a, "after-restart");
    await events.waitForEvent("agent.connected relayed from A", (e) => e.event === "agent.connected" && e.json?.agentId === newcomer.agentId, 5_000);
    for (const r of [a, b, c]) expect(r.running).toBe(true);
  });
});

describe("cluster mode: PostgreSQL unreachable", () => {
  // `cut`: connections reset, new ones refused. `stall`: a silent partition, where only the store's own
  // statement (5 s) and readiness (2 s) bounds notice; stalled connections never come back.
  it.for([
    { outage: "cut" as const, failWithinMs: 6_000 },
    { outage: "stall" as const, failWithinMs: 10_000 },
  ])("says 503 on /readyz and fails requests clearly while the store is $outage off, and resumes by itself", async ({ outage, failWithinMs }, { annotate }) => {
    const proxy = await proxies.start({ host: new URL(TEST_DATABASE_URL).hostname, port: Number(new URL(TEST_DATABASE_URL).port || 5432) });
    const cluster = await clusters.start({ replicas: 3, databaseUrl: proxy.urlFor(TEST_DATABASE_URL) });
    const [a, b, c] = cluster.replicas as [ReplicaProcess, ReplicaProcess, ReplicaProcess];
    const agent = await raw.enrolled(a, "store-outage", { onQuery: (cmd, ag) => ag.respond(cmd) });
    // A token C has never verified: during the outage its check needs the store.
    const fresh = await a.api.createToken("api", "read", "fresh");
    expect((await b.api.query(agent.agentId, { query: "select 'before'" })).status).toBe(200);

    if (outage === "cut") proxy.cut();
    else proxy.stall();
    const cut = performance.now();
    // A query needs the store (audit): it fails with a 5xx that says so, within a few seconds. Asked at
    // once, together with the readiness probes and a token check.
    const [readyAfter, queryA, queryB, auth] = await Promise.all([
      Promise.all([a, b, c].map((r) => waitFor(`${r.hubId} /readyz 503`, async () => (await readyStatus(r)) === 503, { timeoutMs: 6_000 }))).then(() => performance.now() - cut),
      timed(() => a.api.query(agent.agentId, { query: "during" })),
      timed(() => b.api.query(agent.agentId, { query: "during" })),
      timed(() => c.api.as(fresh).get("/api/v1/agents")),
    ]);
    for (const res of [queryA, queryB, auth]) {
      expect(res.value.status, res.value.text).toBe(503);
      expect(res.value.body.error.code).toBe("not_ready");
      expect(res.ms).toBeLessThan(failWithinMs);
    }
    expect(agent.agent.queries.filter((q) => q.query === "during")).toHaveLength(0);
    await annotate(`PostgreSQL ${outage} → /readyz 503 everywhere after ${Math.round(readyAfter)} ms; requests failed 503 not_ready after ${[queryA, queryB, auth].map((r) => Math.round(r.ms)).join(", ")} ms`);
    for (const r of [a, b, c]) expect(r.running, `${r.hubId} still running`).toBe(true);

    proxy.restore();
    const restored = performance.now();
    for (const r of [a, b, c]) await waitFor(`${r.hubId} /readyz 200`, async () => (await readyStatus(r)) === 200, { timeoutMs: 15_000, intervalMs: 100 });
    for (const via of [a, b, c]) await waitFor(`query via ${via.hubId}`, async () => (await via.api.query(agent.agentId, { query: "probe" })).status === 200, { timeoutMs: 15_000, intervalMs: 100 });
    await annotate(`PostgreSQL restored → serving again through every replica after ${Math.round(performance.now() - restored)} ms, nothing restarted`);
    for (const via of [a, b, c]) {
      const res = await via.api.query(agent.agentId, { query: `after via ${via.hubId}` });
      expect(res.status, res.text).toBe(200);
      expect((await via.api.auditRow(res.correlationId!))?.status).toBe("ok");
    }
    expect((await c.api.as(fresh).get("/api/v1/agents")).status).toBe(200);
    for (const r of [a, b, c]) expect(r.running).toBe(true);
  });
});
