import { describe, expect, it } from "vitest";
import { useClusters, type ReplicaProcess } from "./fixtures/cluster.js";
import { sumMetric } from "./fixtures/http.js";
import { useRawAgents } from "./fixtures/raw-agent.js";
import { waitFor } from "./fixtures/wait.js";

// `kill -9` of a hub replica while other replicas have commands in flight on it (DESIGN §7: a dead owner
// is detected within seconds, not at the caller's timeout). Three real replicas, this machine's Redis and
// PostgreSQL, a fresh schema and key prefix.
const clusters = useClusters();
const raw = useRawAgents();

async function scrape(replica: ReplicaProcess, name: string, labels: Record<string, string> = {}): Promise<number> {
  const res = await replica.api.scrape();
  return sumMetric(res.text, name, labels);
}

describe("cluster mode: a replica killed with commands in flight", () => {
  it("fails every caller on the other replicas with replica_unreachable within 5 s, leaves no waiter, and the agent reads offline once its ownership expires", async ({ annotate }) => {
    const cluster = await clusters.start({ replicas: 3 });
    const [a, b, c] = cluster.replicas as [ReplicaProcess, ReplicaProcess, ReplicaProcess];
    // `silent` never answers a query; `mover` reconnects elsewhere at once, as a real agent would.
    const silent = await raw.enrolled(a, "silent-on-a");
    const mover = await raw.enrolled(a, "mover-on-a", { onQuery: (cmd, ag) => ag.respond(cmd) });
    expect((await c.api.query(mover.agentId, { query: "select 'before'" })).status).toBe(200);

    const calls = Array.from({ length: 10 }, (_, i) => {
      const via = i % 2 === 0 ? b : c;
      const t0 = performance.now();
      return via.api.query(silent.agentId, { query: `in flight ${i}`, timeoutMs: 30_000 }).then((res) => ({ res, at: performance.now(), t0, via }));
    });
    await silent.agent.waitForQueries(10);
    expect(await scrape(b, "uplink_pending_commands")).toBe(5);
    expect(await scrape(c, "uplink_pending_commands")).toBe(5);
    const undeliverableBefore = await scrape(c, "uplink_cluster_commands_total", { stage: "undeliverable" });

    const killedAt = performance.now();
    const exit = await cluster.kill(a);
    expect(exit.signal).toBe("SIGKILL");
    // A command sent after the kill finds nobody listening on the owner's channel: refused at once.
    const late = await c.api.query(silent.agentId, { query: "after the kill" });
    expect(late.status, late.text).toBe(502);
    expect(late.body.error.code).toBe("replica_unreachable");
    expect(performance.now() - killedAt).toBeLessThan(2_000);
    expect(await scrape(c, "uplink_cluster_commands_total", { stage: "undeliverable" })).toBe(undeliverableBefore + 1);

    const outcomes = await Promise.all(calls);
    const waits = outcomes.map((o) => o.at - killedAt);
    for (const { res } of outcomes) {
      expect(res.status, res.text).toBe(502);
      expect(res.body.error.code).toBe("replica_unreachable");
      expect(res.body.error.message).toContain(a.hubId);
      expect(silent.agent.queries.map((q) => q.correlationId)).toContain(res.correlationId);
    }
    const slowest = Math.max(...waits);
    expect(slowest, `callers learnt within ${waits.map(Math.round).join(", ")} ms`).toBeLessThan(5_000);
    await annotate(`kill -9 → callers failed after ${Math.round(Math.min(...waits))}–${Math.round(slowest)} ms`);

    // No waiter left behind on the requesters; each failure is in the audit and in the requester's log.
    expect(await scrape(b, "uplink_pending_commands")).toBe(0);
    expect(await scrape(c, "uplink_pending_commands")).toBe(0);
    for (const { res, via } of outcomes) {
      const row = await via.api.auditRow(res.correlationId!);
      expect(row).toMatchObject({ status: "error", error: { code: "replica_unreachable" } });
      expect(via.grep(res.correlationId!).find((l) => l.msg === "remote command failed")).toMatchObject({ code: "replica_unreachable", owner: a.hubId });
    }

    // The agent that reconnects to B at once is served there, before A's ownership would have expired.
    expect((await mover.agent.closed).code).toBe(1006);
    const moved = await raw.connect(b.agentUrl, { agentKey: mover.agentKey, hostname: "mover-on-a", onQuery: (cmd, ag) => ag.respond(cmd) });
    await waitFor("mover served through C", async () => (await c.api.query(mover.agentId, { query: "select 'moved'" })).status === 200, { timeoutMs: 3_000 });
    expect(moved.queries.length).toBeGreaterThan(0);
    expect((await c.api.agent(mover.agentId)).body).toMatchObject({ status: "online", replicaId: b.hubId });

    // The agent that stays away reads offline once A's ownership key expires (TTL 15 s, refreshed every 5 s).
    const offline = await waitFor(
      "silent agent offline",
      async () => ((await b.api.agent(silent.agentId)).body.status === "offline" ? performance.now() - killedAt : undefined),
      { timeoutMs: 18_000, intervalMs: 250 },
    );
    expect(offline).toBeGreaterThan(9_000);
    await annotate(`kill -9 → agent read offline after ${Math.round(offline)} ms`);
    const listed = await c.api.get("/api/v1/agents?status=offline");
    expect(listed.body.agents.map((x: { id: string }) => x.id)).toContain(silent.agentId);
    const refused = await c.api.query(silent.agentId, { query: "select 1" });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe("agent_offline");

    // Nothing else noticed anything: B and C still serve, and stop cleanly (checked by the fixture).
    expect(b.running && c.running).toBe(true);
    expect(await scrape(b, "uplink_cluster_commands_total", { stage: "orphaned" })).toBe(0);
  });
});
