import { describe, expect, it } from "vitest";
import { useClusters, type ReplicaProcess } from "./fixtures/cluster.js";
import { enrollMany } from "./fixtures/hardening.js";
import { sumMetric } from "./fixtures/http.js";
import { useRawAgents } from "./fixtures/raw-agent.js";
import { useSwarms } from "./fixtures/swarm.js";
import { waitFor } from "./fixtures/wait.js";

// `kill -9` of a hub replica while other replicas have commands in flight on it (DESIGN §7: a dead owner
// is detected within seconds, not at the caller's timeout). Three real replicas, this machine's Redis and
// PostgreSQL, a fresh schema and key prefix.
const clusters = useClusters();
const raw = useRawAgents();
const swarms = useSwarms();
/** The fleet of the second test: as many agents as one replica of a small cluster holds, idle. */
const FLEET = 1_000;

async function scrape(replica: ReplicaProcess, name: string, labels: Record<string, string> = {}): Promise<number> {
  const res = await replica.api.scrape();
  return sumMetric(res.text, name, labels);
}

describe("cluster mode: a replica killed with commands in flight", () => {
  it("fails every caller on the other replicas with replica_unreachable within 5 s, leaves no waiter, and the agent reads offline once its heartbeat is gone", async ({ annotate }) => {
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
      // The log line comes through the replica's stdout, which may trail its HTTP answer.
      const line = await waitFor("the requester logged the failure", async () => via.grep(res.correlationId!).find((l) => l.msg === "remote command failed"));
      expect(line).toMatchObject({ code: "replica_unreachable", owner: a.hubId });
    }

    // The agent that reconnects to B at once is served there.
    expect((await mover.agent.closed).code).toBe(1006);
    const moved = await raw.connect(b.agentUrl, { agentKey: mover.agentKey, hostname: "mover-on-a", onQuery: (cmd, ag) => ag.respond(cmd) });
    await waitFor("mover served through C", async () => (await c.api.query(mover.agentId, { query: "select 'moved'" })).status === 200, { timeoutMs: 3_000 });
    expect(moved.queries.length).toBeGreaterThan(0);
    expect((await c.api.agent(mover.agentId)).body).toMatchObject({ status: "online", replicaId: b.hubId });

    // The agent that stays away reads offline once A's heartbeat is gone (its TTL is 3 s): ownership lives
    // as long as its holder's heartbeat, with no TTL of its own.
    const offline = await waitFor(
      "silent agent offline",
      async () => ((await b.api.agent(silent.agentId)).body.status === "offline" ? performance.now() - killedAt : undefined),
      { timeoutMs: 10_000, intervalMs: 250 },
    );
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

  it(`reads the ${FLEET} agents of a killed replica offline once its heartbeat is gone, while a caller to one of them fails within 5 s`, async ({ annotate }) => {
    // Health polls rare: the fleet is idle, as in the field, and the machine is shared.
    const cluster = await clusters.start({ replicas: 2, healthInterval: "30s", args: ["--enroll-rate", "1000000"] });
    const [a, b] = cluster.replicas as [ReplicaProcess, ReplicaProcess];
    const ids = await enrollMany(a.api, FLEET, "fleet", 32);
    const fleet = await swarms.start({ url: a.agentUrl, keys: ids.map((i) => i.agentKey), baseMs: 1_000, capMs: 5_000 }, 2);
    await swarms.until(fleet, `${FLEET} connected`, (t) => t.connected === FLEET, 60_000);
    const silent = await raw.enrolled(a, "silent-in-fleet");
    const fleetIds = [...ids.map((i) => i.agentId), silent.agentId];
    const online = async (via: ReplicaProcess) => {
      const res = await via.api.get("/api/v1/agents?status=online");
      const listed = new Set((res.body.agents as { id: string }[]).map((x) => x.id));
      return fleetIds.filter((id) => listed.has(id)).length;
    };
    await waitFor(`${FLEET + 1} agents online through B`, async () => (await online(b)) === FLEET + 1, { timeoutMs: 20_000 });

    const call = b.api.query(silent.agentId, { query: "never answered", timeoutMs: 30_000 }).then((res) => ({ res, at: performance.now() }));
    await silent.agent.waitForQueries(1);
    const killedAt = performance.now();
    expect((await cluster.kill(a)).signal).toBe("SIGKILL");

    const { res, at } = await call;
    expect(res.status, res.text).toBe(502);
    expect(res.body.error.code).toBe("replica_unreachable");
    expect(at - killedAt, "the caller learnt the owner was gone").toBeLessThan(5_000);

    // One heartbeat vouched for the whole fleet: once it is gone, every agent reads offline together.
    const offlineAfter = await waitFor(
      "the fleet offline through B",
      async () => {
        const res = await b.api.get("/api/v1/agents?status=offline");
        const listed = new Set((res.body.agents as { id: string }[]).map((x) => x.id));
        return fleetIds.every((id) => listed.has(id)) ? performance.now() - killedAt : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 200 },
    );
    // Bound: the heartbeat's 3 s TTL after its last write, plus a poll of the list of the whole fleet.
    expect(offlineAfter).toBeLessThan(5_000);
    expect(await online(b)).toBe(0);
    expect((await b.api.query(ids[0]!.agentId, { query: "select 1" })).body.error.code).toBe("agent_offline");
    await annotate(`kill -9 of a replica holding ${FLEET + 1} agents → caller failed after ${Math.round(at - killedAt)} ms, all read offline after ${Math.round(offlineAfter)} ms`);
  }, 120_000);
});
