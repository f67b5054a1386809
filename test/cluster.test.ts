import { describe, expect, it } from "vitest";
import { useSharedCluster, type ReplicaProcess } from "./fixtures/cluster.js";
import { sumMetric } from "./fixtures/http.js";
import { echoResult, useRawAgents, type HubCommand, type RawAgent } from "./fixtures/raw-agent.js";
import { useSseClients } from "./fixtures/sse.js";
import { seededRandom, shuffle, sleep, waitFor } from "./fixtures/wait.js";

// Cluster mode semantics (DESIGN §7) with three real replicas over this machine's Redis and PostgreSQL,
// a fresh schema and key prefix for the file. Health polls every 30 s: presence shown by the REST API then
// comes from connect/disconnect and the ownership keys, not from a poll that would paper over a race.
const cluster = useSharedCluster({ replicas: 3, healthInterval: "30s" });
const raw = useRawAgents();
const sse = useSseClients();

const STAGES = ["published", "delivered", "returned", "orphaned", "undeliverable"] as const;
type Delivery = Record<(typeof STAGES)[number], number> & { pending: number };

/** One scrape of a replica's delivery counters and its pending-commands gauge. */
async function delivery(replica: ReplicaProcess): Promise<Delivery> {
  const res = await replica.api.scrape();
  expect(res.status).toBe(200);
  const out = { pending: sumMetric(res.text, "uplink_pending_commands") } as Delivery;
  for (const stage of STAGES) out[stage] = sumMetric(res.text, "uplink_cluster_commands_total", { stage });
  return out;
}

function delta(after: Delivery, before: Delivery): Delivery {
  const out = { pending: after.pending } as Delivery;
  for (const stage of STAGES) out[stage] = after[stage] - before[stage];
  return out;
}

function replicas(): [ReplicaProcess, ReplicaProcess, ReplicaProcess] {
  const [a, b, c] = cluster().replicas;
  return [a!, b!, c!];
}

describe("cluster mode: delivery across replicas", () => {
  it("answers concurrent queries made through other replicas, each caller with its own reply, counted per replica", async () => {
    const [a, b, c] = replicas();
    const { agent, agentId } = await raw.enrolled(a, "cross-many");
    const before = await Promise.all([a, b, c].map(delivery));
    const N = 40;
    const seed = Date.now();
    // One sessionId for every caller: only the correlationId can tell the replies apart.
    const calls = Array.from({ length: N }, (_, i) => (i % 2 === 0 ? b : c).api.query(agentId, { query: `select ${i} as n`, sessionId: "one-session" }));
    const commands = await agent.waitForQueries(N);
    expect(new Set(commands.map((cmd) => cmd.correlationId)).size).toBe(N);
    // While unanswered, each requester counts its callers as pending, and the owner counts them all.
    expect((await Promise.all([a, b, c].map(delivery))).map((d) => d.pending)).toEqual([N, N / 2, N / 2]);
    // Answered out of order (seed ${seed}), some at once, some later.
    const random = seededRandom(seed);
    for (const command of shuffle(commands, random)) agent.later(Math.floor(random() * 150), () => agent.respond(command));
    const answers = await Promise.all(calls);
    answers.forEach((res, i) => {
      expect(res.status, `caller ${i} (seed ${seed}): ${res.text}`).toBe(200);
      expect(res.body.correlationId).toBe(res.correlationId);
      expect(res.body.result.rows).toEqual([[`select ${i} as n`, "one-session", res.correlationId]]);
    });

    const [da, db, dc] = (await Promise.all([a, b, c].map(delivery))).map((after, i) => delta(after, before[i]!));
    expect(da).toMatchObject({ delivered: N, published: 0, returned: 0, orphaned: 0, undeliverable: 0, pending: 0 });
    expect(db).toMatchObject({ published: N / 2, returned: N / 2, delivered: 0, orphaned: 0, undeliverable: 0, pending: 0 });
    expect(dc).toMatchObject({ published: N / 2, returned: N / 2, delivered: 0, orphaned: 0, undeliverable: 0, pending: 0 });
    // The store is shared: the requester's audit row is readable through the owner.
    const row = await a.api.auditRow(answers[1]!.correlationId!);
    expect(row).toMatchObject({ agentId, status: "ok", requester: "e2e-admin", sessionId: "one-session" });
  });

  it("answers 409 agent_offline at once for an agent no replica holds, 404 for an unknown one", async () => {
    const [a, b] = replicas();
    const { agentId } = await a.api.enroll("never-connected");
    const t0 = performance.now();
    const res = await b.api.query(agentId, { query: "select 1" });
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("agent_offline");
    expect(res.correlationId).not.toBeNull();
    expect((await b.api.query("agt_nope", { query: "select 1" })).status).toBe(404);
  });

  it("takes tokens and agents created through one replica on every other", async () => {
    const [a, b, c] = replicas();
    const token = await a.api.createToken("api", "query", "made-on-a");
    const readOnly = await a.api.createToken("api", "read", "read-on-a");
    expect((await b.api.as(token).get("/api/v1/agents")).status).toBe(200);
    expect((await c.api.as(token).get("/api/v1/agents")).status).toBe(200);

    // Enrolled through B, connected to C, queried through A with A's token.
    const { agentId, agentKey } = await b.api.enroll("enrolled-on-b");
    const agent = await raw.connect(c.agentUrl, { agentKey, hostname: "enrolled-on-b", onQuery: (cmd, ag) => ag.respond(cmd) });
    const seen = await waitFor("agent online through A", async () => {
      const view = (await a.api.agent(agentId)).body;
      return view.status === "online" ? view : undefined;
    });
    expect(seen.replicaId).toBe(c.hubId);
    const res = await a.api.as(token).query(agentId, { query: "select 'made on a'" });
    expect(res.status, res.text).toBe(200);
    expect(res.body.result.rows[0]).toEqual(["select 'made on a'", expect.any(String), res.correlationId]);
    expect(agent.queries).toHaveLength(1);
    // Scopes come from the shared store too.
    const refused = await b.api.as(readOnly).query(agentId, { query: "select 1" });
    expect(refused.status).toBe(403);

    // Revoked through A: B and C (which trusted it a moment ago) refuse it within the 5 s token cache.
    const tokenId = token.split(".")[0]!;
    expect((await a.api.delete(`/api/v1/tokens/${tokenId}`)).status).toBe(204);
    expect((await a.api.as(token).get("/api/v1/agents")).status).toBe(401);
    const t0 = performance.now();
    await waitFor("B and C refuse the revoked token", async () => (await b.api.as(token).get("/api/v1/agents")).status === 401 && (await c.api.as(token).get("/api/v1/agents")).status === 401, { timeoutMs: 8_000, intervalMs: 200 });
    expect(performance.now() - t0).toBeLessThan(7_000);
  });

  it("closes the socket of an agent revoked through another replica with 4403", async () => {
    const [a, b, c] = replicas();
    const { agent, agentId } = await raw.enrolled(c, "revoked-elsewhere", { onQuery: (cmd, ag) => ag.respond(cmd) });
    expect((await a.api.delete(`/api/v1/agents/${agentId}`)).status).toBe(204);
    const closed = await Promise.race([agent.closed, sleep(5_000).then(() => undefined)]);
    expect(closed?.code, "the socket on C closes with 4403").toBe(4403);
    const res = await c.api.query(agentId, { query: "select 1" });
    expect(res.status).toBe(404);
    expect((await b.api.query(agentId, { query: "select 1" })).status).toBe(404);
  });

  it("lets the same agent connecting to another replica take over: the older socket closes with 4409", async () => {
    const [a, b, c] = replicas();
    const events = await sse.open(c.url, "/api/v1/events", { token: c.adminToken });
    const { agent: first, agentId, agentKey } = await raw.enrolled(a, "moving", { onQuery: (cmd, ag) => ag.respond(cmd) });
    const second = await raw.connect(b.agentUrl, { agentKey, hostname: "moving", onQuery: (cmd, ag) => ag.respond(cmd, { ok: true, result: { ...echoResult(cmd), columns: ["via-b", "s", "c"] } }) });
    const t0 = performance.now();
    const { code } = await first.closed;
    expect(code).toBe(4409);
    expect(performance.now() - t0).toBeLessThan(3_000);
    expect(second.isOpen).toBe(true);
    await a.waitForLog({ msg: "agent connected to another replica; closing ours", agentId, by: b.hubId });

    // Every replica now routes to B's socket, and the agents list says online on B (also a moment later,
    // when A's disconnect of the older socket has been recorded too).
    for (const via of [a, b, c]) {
      const res = await via.api.query(agentId, { query: `via ${via.hubId}` });
      expect(res.status, res.text).toBe(200);
      expect(res.body.result.columns[0]).toBe("via-b");
    }
    expect(first.queries).toHaveLength(0);
    await sleep(500);
    for (const via of [a, b, c]) {
      const view = (await via.api.agent(agentId)).body;
      expect({ status: view.status, replicaId: view.replicaId }, `agent as ${via.hubId} shows it`).toEqual({ status: "online", replicaId: b.hubId });
      const listed = await via.api.get("/api/v1/agents?status=online");
      expect(listed.body.agents.map((x: { id: string }) => x.id)).toContain(agentId);
    }
    // Hub events relay across replicas: C's stream saw the agent connect on A and then on B.
    await events.waitForEvent("agent.connected on B", (e) => e.event === "agent.connected" && e.json?.agentId === agentId && e.json?.replicaId === b.hubId);
    expect(events.named("agent.connected").filter((e) => e.json?.agentId === agentId).map((e) => e.json.replicaId)).toEqual([a.hubId, b.hubId]);
  });

  it("fans out from one replica over agents held by two others; every target gets its own result, and another replica streams it to done", async () => {
    const [a, b, c] = replicas();
    const fleet = `f${Date.now().toString(36)}`;
    const token = await a.api.createToken("enroll", undefined, "fleet");
    const agents: { agentId: string; agent: RawAgent; on: ReplicaProcess }[] = [];
    for (const [i, on] of [a, a, b, b].entries()) {
      const hostname = `${fleet}-${i}`;
      const res = await on.api.post("/api/v1/enroll", { token, hostname, labels: { fleet } }, { token: null });
      expect(res.status).toBe(201);
      // Each answers after its own delay, so results land while the stream is open.
      const onQuery = (cmd: HubCommand, ag: RawAgent) => ag.later(300 + 250 * i, () => ag.respond(cmd, { ok: true, result: { ...echoResult(cmd), columns: [hostname, "s", "c"] } }));
      agents.push({ agentId: res.body.agentId, agent: await raw.connect(on.agentUrl, { agentKey: res.body.agentKey, hostname, onQuery }), on });
    }
    await waitFor("fleet online", async () => (await c.api.get(`/api/v1/agents?status=online&label=fleet=${fleet}`)).body.agents.length === 4);

    const started = await c.api.post("/api/v1/queries", { query: "select 'fan'", targets: { labels: { fleet } } });
    expect(started.status, started.text).toBe(202);
    expect(started.body.targetCount).toBe(4);
    const id = started.body.id as string;
    // Read through A, which is not collecting it: replayed from the store, then live, then done.
    const stream = await sse.open(a.url, `/api/v1/queries/${id}/stream`, { token: a.adminToken });
    expect(stream.status).toBe(200);
    await stream.waitForEnd(10_000);
    const results = stream.named("result").map((e) => e.json);
    expect(results.map((r) => r.agentId).sort()).toEqual(agents.map((x) => x.agentId).sort());
    for (const r of results) {
      const target = agents.find((x) => x.agentId === r.agentId)!;
      expect(r.status).toBe("ok");
      expect(r.result.rows).toEqual([["select 'fan'", id, r.correlationId]]);
      expect(r.result.columns[0]).toBe(`${fleet}-${agents.indexOf(target)}`);
      expect(target.agent.queries.map((q) => q.correlationId)).toEqual([r.correlationId]);
    }
    expect(stream.named("done")).toHaveLength(1);
    expect(stream.named("done")[0]!.json).toMatchObject({ ok: 4, pending: 0 });

    const view = await b.api.get(`/api/v1/queries/${id}`);
    expect(view.body).toMatchObject({ status: "done", counts: { ok: 4 } });
    // A stream opened after the end replays everything and ends with done at once.
    const late = await sse.open(b.url, `/api/v1/queries/${id}/stream`, { token: b.adminToken });
    await late.waitForEnd(5_000);
    expect(late.named("result")).toHaveLength(4);
    expect(late.named("done")).toHaveLength(1);
  });

  it("logs the correlationId on every line of a command's path on both replicas: one grep follows it", async () => {
    const [a, b, c] = replicas();
    const { agent, agentId } = await raw.enrolled(a, "grep-me", { onQuery: (cmd, ag) => ag.respond(cmd) });
    const res = await b.api.query(agentId, { query: "select 'grep'" });
    expect(res.status).toBe(200);
    const id = res.correlationId!;
    expect(agent.queries[0]!.correlationId).toBe(id);
    const messages = (replica: ReplicaProcess) => replica.grep(id).map((l) => l.msg);
    const want = {
      requester: ["command published to the owner replica", "query answered"],
      owner: ["command from another replica delivered to the agent's socket", "reply published to the requesting replica"],
    };
    await waitFor("both sides logged", () => want.requester.every((m) => messages(b).includes(m)) && want.owner.every((m) => messages(a).includes(m)));
    const lines = cluster().grep(id);
    expect(lines.filter((l) => l.hubId === c.hubId)).toEqual([]);
    for (const { hubId, line } of lines) {
      expect(line.correlationId, JSON.stringify(line)).toBe(id);
      expect(line.hubId).toBe(hubId);
    }
    expect(b.grep(id).find((l) => l.msg === want.requester[0])).toMatchObject({ owner: a.hubId, agentId });
    for (const msg of want.owner) expect(a.grep(id).find((l) => l.msg === msg)).toMatchObject({ requester: b.hubId, agentId });
  });
});
