import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { useSharedCluster, type ReplicaProcess } from "./fixtures/cluster.js";
import { useRawAgents, type RawAgent } from "./fixtures/raw-agent.js";
import { waitFor } from "./fixtures/wait.js";

// Idempotency-Key across two replicas sharing one PostgreSQL store: a key claimed through one replica is
// honoured by the other, while the first request still runs (the other polls the store) and after it.
const cluster = useSharedCluster({ replicas: 2, healthInterval: "30s" });
const raw = useRawAgents();

function replicas(): [ReplicaProcess, ReplicaProcess] {
  const [a, b] = cluster().replicas;
  return [a!, b!];
}

const key = () => ({ "idempotency-key": randomUUID() });
const received = (agent: RawAgent, query: string) => agent.queries.filter((c) => c.query === query);

describe("cluster mode: Idempotency-Key across replicas", () => {
  it("starts one fan-out for the same POST sent through each of two replicas, at once and one after the other", async () => {
    const [a, b] = replicas();
    const group = `idem-${randomUUID().slice(0, 8)}`;
    const agents: RawAgent[] = [];
    for (const [n, replica] of [a, b].entries()) {
      const { agentId, agentKey } = await a.api.enroll(`${group}-${n}`, { group });
      agents.push(await raw.connect(replica.agentUrl, { hostname: `${group}-${n}`, agentKey, onQuery: (c, agent) => agent.respond(c) }));
      await waitFor(`agent ${agentId} online`, async () => (await a.api.agent(agentId)).body.status === "online");
    }
    const fanouts = async () => (await a.api.metric("uplink_fanouts_total")) + (await b.api.metric("uplink_fanouts_total"));
    const before = await fanouts();

    const together = { query: `select 'both at once ${group}' as q`, targets: { labels: { group } } };
    const k1 = key();
    const [ra, rb] = await Promise.all([a.api.post("/api/v1/queries", together, { headers: k1 }), b.api.post("/api/v1/queries", together, { headers: k1 })]);
    expect([ra.status, rb.status]).toEqual([202, 202]);
    expect(rb.body.id).toBe(ra.body.id);
    expect([ra, rb].filter((r) => r.headers.get("idempotent-replayed") === "true")).toHaveLength(1);

    const inTurn = { query: `select 'one after the other ${group}' as q`, targets: { labels: { group } } };
    const k2 = key();
    const first = await a.api.post("/api/v1/queries", inTurn, { headers: k2 });
    const second = await b.api.post("/api/v1/queries", inTurn, { headers: k2 });
    expect(second.status).toBe(202);
    expect(second.body).toEqual(first.body);
    expect(second.headers.get("idempotent-replayed")).toBe("true");
    // Through either replica, the id reads the same fan-out.
    expect((await b.api.get(`/api/v1/queries/${first.body.id}`)).body.targetCount).toBe(2);

    for (const query of [together.query, inTurn.query]) {
      await waitFor(`both agents answered ${query}`, () => agents.every((agent) => received(agent, query).length === 1));
    }
    expect((await fanouts()) - before).toBe(2);
  });

  it("runs a single query once when its repeat arrives through the other replica while the first still runs", async () => {
    const [a, b] = replicas();
    const { agent, agentId } = await raw.enrolled(a, `single-${randomUUID().slice(0, 8)}`);
    const body = { query: `select 'once across replicas ${agentId}' as q`, timeoutMs: 10_000 };
    const k = key();
    const first = a.api.query(agentId, body, { headers: k });
    const command = await agent.waitForQuery(body.query);
    const repeat = b.api.query(agentId, body, { headers: k });
    // The repeat polls the shared store: it is waiting before the agent answers.
    await b.waitForLog((l) => l.msg === "waiting for the request holding this Idempotency-Key" && l.idempotencyKey === k["idempotency-key"]);
    agent.respond(command);
    const [ra, rb] = await Promise.all([first, repeat]);
    expect([ra.status, rb.status]).toEqual([200, 200]);
    expect(rb.text).toBe(ra.text);
    expect(rb.correlationId).toBe(ra.correlationId);
    expect(rb.headers.get("idempotent-replayed")).toBe("true");
    expect(received(agent, body.query)).toHaveLength(1);
    const rows = (await b.api.history({ agentId, limit: 500 })).queries.filter((q) => q.query === body.query);
    expect(rows).toHaveLength(1);
  });
});
