import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { UUID_V4, type ApiResponse, type ErrorBody, type QueryAnswer } from "./fixtures/http.js";
import { useHubs } from "./fixtures/hub-process.js";
import { useRawAgents, type HubCommand } from "./fixtures/raw-agent.js";
import { seededRandom, shuffle, waitFor } from "./fixtures/wait.js";

/**
 * The incident Uplink exists for: many callers and the health poller share one agent socket, and the
 * agent answers in whatever order its work finishes. Every reply must reach the caller that asked.
 */
describe("Correlation over one agent socket", () => {
  const hubs = useHubs();
  const rawAgents = useRawAgents();

  it("gives each of 300 concurrent callers sharing one sessionId exactly its own reply, answered in shuffled order, while health polls keep succeeding", async () => {
    // A health poll's deadline is one interval: 1 s leaves a loaded machine room to answer polls while the
    // 300 queries are processed, and answers spread over 2.5 s keep at least two polls inside the burst.
    const hub = await hubs.start({ healthInterval: "1s", queryTimeout: "20s", logLevel: "info" });
    const { agentId, agentKey } = await hub.api.enroll("incident-host");
    const agent = await rawAgents.connect(hub.agentUrl, { agentKey });
    await waitFor("the agent online with a first health result", async () => {
      const { body } = await hub.api.agent(agentId);
      return body.status === "online" && body.lastHealth !== null;
    });

    const seed = Math.floor(Math.random() * 2 ** 31);
    const random = seededRandom(seed);
    const N = 300;
    const sessionId = "incident-shared-session";
    const sent = Array.from({ length: N }, (_, i) => `select ${i} as caller -- ${randomUUID()}`);
    // Every 7th caller's query fails on the agent: error replies must be routed as exactly as results.
    const failing = (query: string) => sent.indexOf(query) % 7 === 3;

    const calls: Promise<ApiResponse<QueryAnswer & ErrorBody>>[] = sent.map((query, i) =>
      hub.api.query(agentId, { query, sessionId, timeoutMs: 20_000 }, { headers: { "x-request-id": `caller-${i}` } }),
    );
    const commands = await agent.waitForQueries(N, 15_000);
    const burstStart = agent.healthPolls.length;
    for (const command of shuffle(commands, random)) {
      agent.later(Math.floor(random() * 2_500), () =>
        failing(command.query)
          ? agent.respond(command, { ok: false, code: "query_failed", error: `no such table in: ${command.query}` })
          : agent.respond(command),
      );
    }
    const responses = await Promise.all(calls);
    const pollsDuringBurst = agent.healthPolls.length - burstStart;

    const commandOf = new Map(commands.map((c) => [c.query, c]));
    responses.forEach((res, i) => {
      const query = sent[i]!;
      const context = `caller ${i} (seed ${seed})`;
      expect(res.correlationId, context).toMatch(UUID_V4);
      // The command the agent received for this caller's query carried this caller's correlationId.
      expect(commandOf.get(query)?.correlationId, context).toBe(res.correlationId);
      if (failing(query)) {
        expect(res.status, context).toBe(502);
        expect(res.body.error.code, context).toBe("query_failed");
        expect(res.body.error.message, context).toContain(query);
      } else {
        expect(res.status, context).toBe(200);
        expect(res.body.correlationId, context).toBe(res.correlationId);
        expect(res.body.agentId, context).toBe(agentId);
        expect(res.body.result.rows, context).toEqual([[query, sessionId, res.correlationId]]);
      }
    });

    // The hub generated every correlationId: distinct, UUIDv4-shaped (122 random bits), health polls included.
    const queryIds = responses.map((r) => r.correlationId!);
    const healthIds = agent.healthPolls.map((c) => c.correlationId!);
    expect(new Set(queryIds).size).toBe(N);
    expect(new Set([...queryIds, ...healthIds]).size).toBe(N + healthIds.length);
    for (const id of healthIds) expect(id).toMatch(UUID_V4);
    expect(commands.every((c) => c.sessionId === sessionId)).toBe(true);
    expect(agent.healthPolls.every((c) => c.sessionId === "uplink-health")).toBe(true);

    // Health polls went on during the burst and every one succeeded.
    expect(pollsDuringBurst).toBeGreaterThanOrEqual(2);
    expect(await hub.api.metric("uplink_health_poll_failures_total")).toBe(0);
    expect(hub.logsMatching((l) => l.msg === "agent health status changed" && l.to !== "online")).toEqual([]);
    const { body: view } = await hub.api.agent(agentId);
    expect(view.status).toBe("online");
    expect(view.lastHealth).toMatchObject({ status: "ok", agentVersion: "raw-agent/1.0" });

    // Nothing was dropped as an orphan, and the audit holds one row per caller with its requestId.
    expect(await hub.api.metric("uplink_orphan_replies_total")).toBe(0);
    const audit = (await hub.api.history({ limit: 500, agentId })).queries;
    expect(audit).toHaveLength(N);
    const auditById = new Map(audit.map((row) => [row.correlationId, row]));
    responses.forEach((res, i) => {
      const row = auditById.get(res.correlationId!);
      expect(row, `audit row of caller ${i}`).toMatchObject({
        query: sent[i],
        sessionId,
        requestId: `caller-${i}`,
        requester: "e2e-admin",
        status: failing(sent[i]!) ? "error" : "ok",
      });
    });
  }, 60_000);

  it("routes every reply to its own caller for any answer order and any mix of sessions (property)", async () => {
    const hub = await hubs.start({ healthInterval: "100ms", queryTimeout: "10s", logLevel: "info" });
    const { agentId, agentKey } = await hub.api.enroll("property-host");
    const agent = await rawAgents.connect(hub.agentUrl, { agentKey });
    await waitFor("the agent online", async () => (await hub.api.agent(agentId)).body.status === "online");

    const K = 12;
    await fc.assert(
      fc.asyncProperty(
        fc.shuffledSubarray([...Array(K).keys()], { minLength: K, maxLength: K }),
        fc.array(fc.constantFrom("a", "b", "uplink_health-lookalike"), { minLength: K, maxLength: K }),
        fc.array(fc.integer({ min: 0, max: 30 }), { minLength: K, maxLength: K }),
        async (order, sessions, delays) => {
          const round = randomUUID();
          const sent = sessions.map((s, i) => ({ query: `select ${i} -- ${round}`, sessionId: s }));
          const calls = sent.map((s) => hub.api.query(agentId, { ...s, timeoutMs: 3_000 }));
          const commands = await Promise.all(sent.map((s) => agent.waitForQuery(s.query)));
          order.forEach((i, rank) => {
            const command: HubCommand = commands[i]!;
            agent.later(delays[rank]!, () => agent.respond(command));
          });
          const responses = await Promise.all(calls);
          responses.forEach((res, i) => {
            expect(res.status).toBe(200);
            expect(res.body.result.rows).toEqual([[sent[i]!.query, sent[i]!.sessionId, res.correlationId]]);
          });
        },
      ),
      // Shrinking replays whole rounds against real processes: report the first counterexample instead.
      { numRuns: 25, endOnFailure: true },
    );
    // No query's reply was dropped as an orphan. A health poll's reply may be, on a machine loaded enough to
    // answer a 100 ms poll after its deadline: that is the hub refusing a late answer, not a crossed reply.
    const orphans = hub.logsMatching("orphan reply dropped").filter((line) => line.sessionId !== "uplink-health");
    expect(orphans).toEqual([]);
  }, 60_000);
});
