import { request } from "node:http";
import { describe, expect, it } from "vitest";
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
});
