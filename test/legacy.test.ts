import { describe, expect, it } from "vitest";
import { UUID_V4, type ApiResponse, type ErrorBody, type QueryAnswer } from "./fixtures/http.js";
import { useHubs } from "./fixtures/hub-process.js";
import { maxInflightPerSession, sessionOf, useRawAgents, type HubCommand } from "./fixtures/raw-agent.js";
import { seededRandom, waitFor } from "./fixtures/wait.js";

/** Protocol 1: an agent that never echoes a correlationId. The hub matches its replies by session. */
describe("A legacy (protocol 1) agent", () => {
  const hubs = useHubs();
  const rawAgents = useRawAgents();

  it("gets no crossed replies when several sessions, each with several concurrent queries, are answered out of order", async () => {
    const hub = await hubs.start({ healthInterval: "200ms", queryTimeout: "10s" });
    const { agentId, agentKey } = await hub.api.enroll("legacy-host");
    const agent = await rawAgents.connect(hub.agentUrl, { agentKey, protocol: 1 });
    await waitFor("the legacy agent online with a health result", async () => {
      const { body } = await hub.api.agent(agentId);
      return body.status === "online" && body.lastHealth !== null;
    });

    const sessions = ["alpha", "beta", "gamma", "delta"];
    const perSession = 4;
    const sent = sessions.flatMap((sessionId) => Array.from({ length: perSession }, (_, i) => ({ sessionId, query: `select '${sessionId}' as s, ${i} as n` })));
    const calls: Promise<ApiResponse<QueryAnswer & ErrorBody>>[] = sent.map((body) => hub.api.query(agentId, body));

    // First round: one command per session is in flight; answer them newest first, each session spelled
    // differently (session_id only, sessionId only, both).
    const spellings = ["session_id", "sessionId", "both"] as const;
    const firstRound = await agent.waitUntil("one command of every session", () => {
      const bySession = new Map(agent.queries.map((c) => [sessionOf(c), c]));
      return bySession.size === sessions.length ? agent.queries.slice(0, sessions.length) : undefined;
    });
    const random = seededRandom(42);
    let answered = 0;
    const answer = (command: HubCommand) => agent.respond(command, undefined, { spelling: spellings[answered++ % 3] });
    agent.onQuery = (command) => agent.later(Math.floor(random() * 80), () => answer(command));
    for (const command of [...firstRound].reverse()) answer(command);

    const responses = await Promise.all(calls);
    responses.forEach((res, i) => {
      expect(res.status, `caller ${i}`).toBe(200);
      expect(res.correlationId).toMatch(UUID_V4);
      expect(res.body.correlationId).toBe(res.correlationId);
      // The agent echoes no correlationId; the reply's content proves whose it is.
      expect(res.body.result.rows, `caller ${i}`).toEqual([[sent[i]!.query, sent[i]!.sessionId, null]]);
    });
    expect(new Set(responses.map((r) => r.correlationId)).size).toBe(sent.length);

    // The frames the agent received: protocol-1 commands, never two of one session in flight.
    expect(agent.frames.some((f) => f.type === "welcome")).toBe(false);
    for (const command of agent.commands) {
      expect(command).not.toHaveProperty("correlationId");
      expect(command.session_id).toBe(command.sessionId);
    }
    const max = maxInflightPerSession(agent);
    for (const session of [...sessions, "uplink-health"]) expect(max.get(session), `max in flight on ${session}`).toBe(1);
    expect(agent.queries).toHaveLength(sent.length);

    // Health polls come on their own session and keep the agent online.
    expect(agent.healthPolls.length).toBeGreaterThanOrEqual(1);
    expect(agent.healthPolls.every((c) => sessionOf(c) === "uplink-health" && c.correlationId === undefined)).toBe(true);
    expect(agent.queries.some((c) => sessionOf(c) === "uplink-health")).toBe(false);
    const { body: view } = await hub.api.agent(agentId);
    expect(view).toMatchObject({ status: "online", protocol: 1 });
    expect(view.lastHealth).not.toBeNull();
    expect(await hub.api.metric("uplink_orphan_replies_total")).toBe(0);
  }, 30_000);

  it("drops a late reply after a timeout instead of handing it to the session's next caller", async () => {
    const hub = await hubs.start({ healthInterval: "200ms" });
    const { agentId, agentKey } = await hub.api.enroll("legacy-late");
    const agent = await rawAgents.connect(hub.agentUrl, { agentKey, protocol: 1 });
    await waitFor("the legacy agent online", async () => (await hub.api.agent(agentId)).body.status === "online");

    const first = await hub.api.query(agentId, { sessionId: "s", query: "select 'first'", timeoutMs: 300 });
    expect(first.status).toBe(504);
    expect(first.body.error.code).toBe("timeout");
    const firstCommand = await agent.waitForQuery("select 'first'");

    // The next caller of the same session is held back while the first command's reply may still come.
    const second = hub.api.query(agentId, { sessionId: "s", query: "select 'second'", timeoutMs: 5_000 });
    const orphansBefore = await hub.api.metric("uplink_orphan_replies_total", { reason: "late" });
    expect(agent.queries.map((c) => c.query)).toEqual(["select 'first'"]);
    agent.respond(firstCommand, undefined, { spelling: "session_id" });
    const secondCommand = await agent.waitForQuery("select 'second'");
    agent.respond(secondCommand, undefined, { spelling: "session_id" });

    const res = await second;
    expect(res.status).toBe(200);
    expect(res.body.result.rows).toEqual([["select 'second'", "s", null]]);
    expect(await hub.api.metric("uplink_orphan_replies_total", { reason: "late" })).toBe(orphansBefore + 1);
    await hub.waitForLog((l) => l.msg === "orphan reply dropped" && l.reason === "late" && l.sessionId === "s");
    // A legacy agent cannot match a cancel (it has no correlationId), so none is sent.
    expect(agent.cancels).toEqual([]);
    const audit = await hub.api.auditRow(first.correlationId!);
    expect(audit).toMatchObject({ status: "timeout", error: { code: "timeout" } });
  }, 20_000);

  it("drops a reply for a session with nothing in flight", async () => {
    const hub = await hubs.start();
    const { agentId, agentKey } = await hub.api.enroll("legacy-stray");
    const agent = await rawAgents.connect(hub.agentUrl, { agentKey, protocol: 1 });
    await waitFor("the legacy agent online", async () => (await hub.api.agent(agentId)).body.status === "online");

    agent.send({ type: "session_response", session_id: "nobody-asked", ok: true, result: { columns: [], rows: [], rowCount: 0, truncated: false } });
    await hub.waitForLog((l) => l.msg === "orphan reply dropped" && l.reason === "legacy_unmatched" && l.sessionId === "nobody-asked");
    expect(await hub.api.metric("uplink_orphan_replies_total", { reason: "legacy_unmatched" })).toBe(1);

    agent.onQuery = (command) => agent.respond(command, undefined, { spelling: "session_id" });
    const res = await hub.api.query(agentId, { sessionId: "nobody-asked", query: "select 'mine'" });
    expect(res.status).toBe(200);
    expect(res.body.result.rows).toEqual([["select 'mine'", "nobody-asked", null]]);
  }, 20_000);
});
