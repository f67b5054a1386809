import { describe, expect, it } from "vitest";
import type { FanoutView } from "../packages/protocol/dist/index.js";
import { useSharedHub, type HubProcess } from "./fixtures/hub-process.js";
import { useRawAgents, type RawAgent } from "./fixtures/raw-agent.js";
import { useSseClients } from "./fixtures/sse.js";

const okResult = { columns: ["n"], rows: [[1]], rowCount: 1, truncated: false };

// `POST /api/v1/queries/:id/cancel`: the pending targets of a running fan-out are cancelled on their agents.
describe("Cancelling a fan-out", () => {
  const shared = useSharedHub({ logLevel: "info" });
  const raw = useRawAgents();
  const sse = useSseClients();

  /** An agent that answers every query at once. */
  async function answering(hub: HubProcess, hostname: string): Promise<{ agent: RawAgent; agentId: string }> {
    const a = await raw.enrolled(hub, hostname);
    a.agent.onQuery = (command, agent) => agent.respond(command, { ok: true, result: okResult });
    return a;
  }

  /** Starts a fan-out to these agents with a deadline far past any test; returns its id. */
  async function start(hub: HubProcess, token: string, agentIds: string[], query: string): Promise<string> {
    const res = await hub.api.as(token).post("/api/v1/queries", { query, targets: { agentIds }, timeoutMs: 50_000 });
    expect(res.status).toBe(202);
    return res.body.id as string;
  }

  it("sends `cancel` to each silent target, records it cancelled, ends the stream with `done` and publishes query.done once; the answered target keeps its result", async () => {
    const hub = shared();
    const operator = await hub.api.createToken("api", "query", "cancel-operator");
    const fast = await answering(hub, "cancel-fast");
    const silent = [await raw.enrolled(hub, "cancel-silent-1"), await raw.enrolled(hub, "cancel-silent-2")];
    const events = await sse.open(hub.url, "/api/v1/events", { token: hub.adminToken });
    const query = "select 'cancelled fan-out'";
    const id = await start(hub, operator, [fast.agentId, ...silent.map((s) => s.agentId)], query);
    const stream = await sse.open(hub.url, `/api/v1/queries/${id}/stream`, { token: hub.adminToken });
    await stream.waitForCount(1, "result");
    const commands = await Promise.all(silent.map((s) => s.agent.waitForQuery(query)));

    const res = await hub.api.as(operator).post<FanoutView>(`/api/v1/queries/${id}/cancel`, undefined, { headers: { "idempotency-key": `cancel-${id}` } });
    expect(res.status).toBe(200);
    // Far within the 50 s deadline: only the cancel can have sent these.
    for (const [i, s] of silent.entries()) {
      await s.agent.waitForFrame("cancel", (f) => f.type === "cancel" && f.correlationId === commands[i]!.correlationId, 10_000);
    }
    const view = res.body;
    expect(view.status).toBe("done");
    expect(view.counts).toEqual({ pending: 0, ok: 1, error: 0, timeout: 0, offline: 0, cancelled: 2 });
    const byAgent = new Map(view.targets.map((t) => [t.agentId, t]));
    expect(byAgent.get(fast.agentId)).toMatchObject({ status: "ok", resultSeq: 1, error: null, result: okResult });
    for (const s of silent) {
      expect(byAgent.get(s.agentId)).toMatchObject({ status: "cancelled", result: null, error: { code: "cancelled", message: "the fan-out was cancelled by cancel-operator" } });
      expect(await hub.api.auditRow(byAgent.get(s.agentId)!.correlationId)).toMatchObject({ status: "cancelled", fanoutId: id, error: { code: "cancelled" } });
    }
    expect((await hub.api.get<FanoutView>(`/api/v1/queries/${id}`)).body).toEqual(view);

    // The stream sent a `result` for each cancelled target, then `done` with the same counts.
    await stream.waitForEnd();
    expect(stream.events.map((e) => [e.event, e.id])).toEqual([["result", "1"], ["result", "2"], ["result", "3"], ["done", "4"]]);
    expect(stream.named("result").slice(1).map((e) => e.json.status)).toEqual(["cancelled", "cancelled"]);
    expect(stream.named("done")[0]!.json).toEqual(view.counts);

    // The same Idempotency-Key replays the answer; a new cancel of the ended fan-out is 409.
    const replay = await hub.api.as(operator).post<FanoutView>(`/api/v1/queries/${id}/cancel`, undefined, { headers: { "idempotency-key": `cancel-${id}` } });
    expect(replay.status).toBe(200);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(replay.body).toEqual(view);
    const again = await hub.api.as(operator).post(`/api/v1/queries/${id}/cancel`, undefined);
    expect(again.status).toBe(409);
    expect(again.body.error).toEqual({ code: "fanout_finished", message: `fan-out ${id} already ended; there is nothing left to cancel` });

    // query.done of the fan-out was published once: a later event (a single query's) comes after it alone.
    const single = await hub.api.query(fast.agentId, { query: "select 'after the cancel'" });
    expect(single.status).toBe(200);
    await events.waitForEvent("the single query's query.done", (e) => e.event === "query.done" && e.json.correlationId === single.correlationId);
    const fanoutDone = events.named("query.done").filter((e) => e.json.fanoutId === id);
    expect(fanoutDone.map((e) => e.json)).toEqual([expect.objectContaining({ fanoutId: id, targetCount: 3, counts: view.counts })]);
  });

  it("is 404 for an unknown fan-out and for a single command's id", async () => {
    const hub = shared();
    const fast = await answering(hub, "cancel-404");
    const unknown = await hub.api.post("/api/v1/queries/fan_0000000000000000/cancel", undefined);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe("not_found");
    const single = await hub.api.query(fast.agentId, { query: "select 1" });
    expect(single.status).toBe(200);
    expect((await hub.api.post(`/api/v1/queries/${single.correlationId}/cancel`, undefined)).status).toBe(404);
  });

  it("lets the requester's token or an admin cancel; a read token, or another query token, is refused 403 and cancels nothing", async () => {
    const hub = shared();
    const owner = await hub.api.createToken("api", "query", "cancel-owner");
    const other = await hub.api.createToken("api", "query", "cancel-other");
    const reader = await hub.api.createToken("api", "read", "cancel-reader");
    const silent = await raw.enrolled(hub, "cancel-scopes");

    const first = await start(hub, owner, [silent.agentId], "select 'scopes 1'");
    await silent.agent.waitForQuery("select 'scopes 1'");
    const byReader = await hub.api.as(reader).post(`/api/v1/queries/${first}/cancel`, undefined);
    expect(byReader.status).toBe(403);
    expect(byReader.body.error.code).toBe("forbidden");
    const byOther = await hub.api.as(other).post(`/api/v1/queries/${first}/cancel`, undefined);
    expect(byOther.status).toBe(403);
    expect(byOther.body.error).toEqual({ code: "forbidden", message: `fan-out ${first} was started by cancel-owner; only its requester or an admin token may cancel it` });
    expect((await hub.api.get<FanoutView>(`/api/v1/queries/${first}`)).body).toMatchObject({ status: "running", counts: { pending: 1 } });
    const byOwner = await hub.api.as(owner).post<FanoutView>(`/api/v1/queries/${first}/cancel`, undefined);
    expect(byOwner.status).toBe(200);
    expect(byOwner.body.counts).toMatchObject({ pending: 0, cancelled: 1 });

    const second = await start(hub, owner, [silent.agentId], "select 'scopes 2'");
    await silent.agent.waitForQuery("select 'scopes 2'");
    const byAdmin = await hub.api.post<FanoutView>(`/api/v1/queries/${second}/cancel`, undefined);
    expect(byAdmin.status).toBe(200);
    expect(byAdmin.body).toMatchObject({ status: "done", counts: { pending: 0, cancelled: 1 } });
    expect(byAdmin.body.targets[0]!.error!.message).toMatch(/^the fan-out was cancelled by /);
  });
});
