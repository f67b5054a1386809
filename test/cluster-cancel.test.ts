import { request } from "node:http";
import { describe, expect, it } from "vitest";
import type { FanoutView } from "../packages/protocol/dist/index.js";
import { useSharedCluster, type ReplicaProcess } from "./fixtures/cluster.js";
import { sumMetric } from "./fixtures/http.js";
import { useRawAgents } from "./fixtures/raw-agent.js";
import { sleep, waitFor } from "./fixtures/wait.js";

// A REST caller that disconnects cancels its command even when another replica holds the agent's socket:
// the requester fails it at once and tells the owner, which sends `cancel` on the agent's socket.
const cluster = useSharedCluster({ replicas: 2, healthInterval: "30s" });
const raw = useRawAgents();

async function counter(replica: ReplicaProcess, name: string, labels: Record<string, string>): Promise<number> {
  return sumMetric((await replica.api.scrape()).text, name, labels);
}

describe("cluster mode: a caller that disconnects", () => {
  it("cancels a command routed to another replica: the agent gets `cancel`, the audit says cancelled, no orphan reply", async () => {
    const [owner, requester] = cluster().replicas as [ReplicaProcess, ReplicaProcess];
    const { agent, agentId } = await raw.enrolled(owner, "cancel-across");
    const cancelledBefore = await counter(owner, "uplink_commands_completed_total", { kind: "query", outcome: "cancelled" });
    const orphansBefore = await counter(requester, "uplink_cluster_commands_total", { stage: "orphaned" });
    const body = JSON.stringify({ query: "select 'abandoned across'", timeoutMs: 50_000 });
    const req = request(`${requester.url}/api/v1/agents/${agentId}/query`, {
      method: "POST",
      agent: false,
      headers: { authorization: `Bearer ${requester.adminToken}`, "content-type": "application/json", "content-length": Buffer.byteLength(body) },
    });
    req.on("error", () => {}); // destroyed on purpose
    req.end(body);
    const command = await agent.waitForQuery("select 'abandoned across'");
    req.destroy();
    // Far within the 50 s deadline: only the disconnect can have caused it.
    await agent.waitForFrame("cancel", (f) => f.type === "cancel" && f.correlationId === command.correlationId, 10_000);
    await waitFor("audit row cancelled", async () => (await owner.api.auditRow(command.correlationId!))?.status === "cancelled");
    expect(await requester.api.auditRow(command.correlationId!)).toMatchObject({ status: "cancelled", error: { code: "cancelled" } });
    expect(await counter(owner, "uplink_commands_completed_total", { kind: "query", outcome: "cancelled" })).toBe(cancelledBefore + 1);
    await waitFor("nothing pending on either replica", async () => (await Promise.all([owner, requester].map((r) => counter(r, "uplink_pending_commands", {})))).every((n) => n === 0));
    // The agent's late answer goes nowhere: the owner dropped the command, so no reply crosses the bus.
    agent.respond(command);
    await sleep(300);
    expect(await counter(requester, "uplink_cluster_commands_total", { stage: "orphaned" })).toBe(orphansBefore);
    await waitFor("the owner logged the cancel", async () => owner.grep(command.correlationId!).some((l) => l.msg === "caller gone; command cancelled"));
  });

  it("cancels a fan-out whose target is held by another replica, asked of either replica: the agent gets `cancel`, the target reads cancelled", async () => {
    const [owner, requester] = cluster().replicas as [ReplicaProcess, ReplicaProcess];
    const { agent, agentId } = await raw.enrolled(owner, "fanout-cancel-across");
    for (const [i, via] of [requester, owner].entries()) {
      // Started on `requester`, which collects it; cancelled through `via`: the collecting replica itself,
      // then the other one (which asks the collecting replica over the bus).
      const query = `select 'fan-out cancelled across ${i}'`;
      const started = await requester.api.post("/api/v1/queries", { query, targets: { agentIds: [agentId] }, timeoutMs: 50_000 });
      expect(started.status).toBe(202);
      const id = started.body.id as string;
      const command = await agent.waitForQuery(query);
      const res = await via.api.post<FanoutView>(`/api/v1/queries/${id}/cancel`, undefined);
      expect(res.status).toBe(200);
      // Far within the 50 s deadline: only the cancel can have sent it.
      await agent.waitForFrame("cancel", (f) => f.type === "cancel" && f.correlationId === command.correlationId, 10_000);
      expect(res.body).toMatchObject({ status: "done", counts: { pending: 0, cancelled: 1 } });
      expect(res.body.targets).toEqual([expect.objectContaining({ agentId, status: "cancelled", error: { code: "cancelled", message: expect.stringMatching(/^the fan-out was cancelled by /) } })]);
      for (const replica of [owner, requester]) {
        expect((await replica.api.get<FanoutView>(`/api/v1/queries/${id}`)).body).toMatchObject({ status: "done", counts: { cancelled: 1 } });
      }
      expect((await owner.api.post(`/api/v1/queries/${id}/cancel`, undefined)).status).toBe(409);
      if (via === owner) await waitFor("the collecting replica logged the cancel it was asked for", async () => requester.grep(id).some((l) => l.msg === "fan-out cancel from another replica"));
    }
    await waitFor("nothing pending on either replica", async () => (await Promise.all([owner, requester].map((r) => counter(r, "uplink_pending_commands", {})))).every((n) => n === 0));
  });
});
