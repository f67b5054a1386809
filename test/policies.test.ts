import { describe, expect, it } from "vitest";
import type { PolicyDetail, PolicyView } from "../packages/protocol/dist/index.js";
import { useHubs } from "./fixtures/hub-process.js";
import type { HubCommand, RawAgent } from "./fixtures/raw-agent.js";
import { useRawAgents } from "./fixtures/raw-agent.js";
import { useSseClients } from "./fixtures/sse.js";
import { sleep, waitFor } from "./fixtures/wait.js";

/** An agent answering the policy's query with rows (it passes) or none (it fails), as the test says. */
function passes(pass: () => boolean) {
  return (command: HubCommand, agent: RawAgent) =>
    agent.respond(command, { ok: true, result: { columns: ["ok"], rows: pass() ? [[1]] : [], rowCount: pass() ? 1 : 0, truncated: false } });
}

describe("Policies", () => {
  const hubs = useHubs();
  const raw = useRawAgents();
  const sse = useSseClients();

  it("keeps each host's state: a host flipping moves the gauges and emits one policy.changed; failing hosts listed with their reason", async () => {
    const hub = await hubs.start();
    const events = await sse.open(hub.url, "/api/v1/events?after=0", { token: hub.adminToken });
    let bPasses = false;
    const a = await raw.enrolled(hub, "pol-a", { onQuery: passes(() => true) });
    const b = await raw.enrolled(hub, "pol-b", { onQuery: passes(() => bPasses) });
    const created = await hub.api.post("/api/v1/policies", { name: "sshd running", query: "select 1 from processes where name = 'sshd'", interval: "1s", targets: { agentIds: [a.agentId, b.agentId] } });
    expect(created.status).toBe(201);
    const policy = created.body as PolicyView;
    expect(policy.id).toMatch(/^pol_/);
    expect(policy.counts).toEqual({ pass: 0, fail: 0, unknown: 0 });
    const gauge = (state: string) => hub.api.metric("uplink_policy_hosts", { policy: "sshd running", state });

    await waitFor("a passes and b fails", async () => (await gauge("pass")) === 1 && (await gauge("fail")) === 1);
    const detail = (await hub.api.get(`/api/v1/policies/${policy.id}`)).body as PolicyDetail;
    expect(detail.counts).toEqual({ pass: 1, fail: 1, unknown: 0 });
    expect(detail.failing).toEqual([expect.objectContaining({ agentId: b.agentId, state: "fail", reason: "the query returned no rows" })]);
    expect((await hub.api.get("/api/v1/policies")).body.policies[0].counts).toEqual({ pass: 1, fail: 1, unknown: 0 });

    // b flips: the gauges move, and exactly one change is announced for it.
    bPasses = true;
    await waitFor("both pass", async () => (await gauge("pass")) === 2 && (await gauge("fail")) === 0);
    await sleep(2_200); // two more checks: unchanged states announce nothing
    const changes = events.named("policy.changed").map((e) => e.json);
    expect(changes.filter((c) => c.agentId === a.agentId).map((c) => [c.from, c.to])).toEqual([[null, "pass"]]);
    expect(changes.filter((c) => c.agentId === b.agentId).map((c) => [c.from, c.to])).toEqual([
      [null, "fail"],
      ["fail", "pass"],
    ]);
    expect(changes.at(-1)).toMatchObject({ policyId: policy.id, policyName: "sshd running", agentId: b.agentId, from: "fail", to: "pass" });
    expect(((await hub.api.get(`/api/v1/policies/${policy.id}`)).body as PolicyDetail).failing).toEqual([]);

    // b goes offline: unknown, with the reason.
    await b.agent.close();
    await waitFor("b unknown", async () => (await gauge("unknown")) === 1);
    // The event is appended (committed) then streamed: it may reach this client after the gauge moved.
    const unknown = await waitFor("b's change announced", () => events.named("policy.changed").map((e) => e.json).find((c) => c.agentId === b.agentId && c.to === "unknown"));
    expect(unknown).toMatchObject({ agentId: b.agentId, from: "pass", to: "unknown" });
    expect(unknown.reason).toMatch(/^agent_offline: /);

    // Read sees, admin changes; a rename shows on the gauge; a delete drops it.
    const read = hub.api.as(await hub.api.createToken("api", "read"));
    expect((await read.get(`/api/v1/policies/${policy.id}`)).status).toBe(200);
    expect((await read.post("/api/v1/policies", { name: "x", query: "select 1", interval: "1m", targets: { all: true } })).status).toBe(403);
    expect((await hub.api.post("/api/v1/policies", { name: "sshd running", query: "select 1", interval: "1m", targets: { all: true } })).status).toBe(409);
    expect((await hub.api.post("/api/v1/policies", { name: "m", query: "select 1", interval: "1m", targets: { all: true }, mode: "snapshot" })).status).toBe(400);
    expect((await hub.api.request("PATCH", `/api/v1/policies/${policy.id}`, { json: { name: "sshd up" } })).body.name).toBe("sshd up");
    await waitFor("the gauge renamed", async () => (await gauge("pass")) === 0 && (await hub.api.metric("uplink_policy_hosts", { policy: "sshd up", state: "pass" })) === 1);
    expect((await hub.api.delete(`/api/v1/policies/${policy.id}`)).status).toBe(204);
    expect((await hub.api.get(`/api/v1/policies/${policy.id}`)).status).toBe(404);
    await waitFor("the gauge gone", async () => (await hub.api.metric("uplink_policy_hosts", { policy: "sshd up", state: "pass" })) === 0);
  });
});
