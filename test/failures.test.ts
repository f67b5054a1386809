import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { UUID_V4, type ApiResponse, type ErrorBody, type QueryAnswer } from "./fixtures/http.js";
import { useHubs, useSharedHub } from "./fixtures/hub-process.js";
import { echoResult, useRawAgents } from "./fixtures/raw-agent.js";
import { sleep, waitFor } from "./fixtures/wait.js";

type QueryResponse = ApiResponse<QueryAnswer & ErrorBody>;

/** Tracks whether a promise has settled, to assert that a caller is still waiting. */
function track<T>(promise: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let done = false;
  void promise.then(
    () => (done = true),
    () => (done = true),
  );
  return { promise, settled: () => done };
}

describe("Failures on the agent path", () => {
  // One hub for the file (short default deadline, fast pings, a small frame cap); tests use their own agents.
  const shared = useSharedHub({ queryTimeout: "700ms", pingInterval: "300ms", args: ["--max-payload", "262144"] });
  const hubs = useHubs();
  const rawAgents = useRawAgents();

  describe("deadlines", () => {
    it("answers 504 timeout near the command's deadline and sends cancel with its correlationId to the agent", async () => {
      const hub = shared();
      const { agent, agentId } = await rawAgents.enrolled(hub, "slow-host");

      const t0 = performance.now();
      const res: QueryResponse = await hub.api.query(agentId, { query: "select * from slow", timeoutMs: 800 });
      const elapsed = performance.now() - t0;

      expect(res.status).toBe(504);
      expect(res.body.error.code).toBe("timeout");
      expect(res.correlationId).toMatch(UUID_V4);
      expect(elapsed).toBeGreaterThanOrEqual(800 - 300);
      expect(elapsed).toBeLessThanOrEqual(800 + 300);
      const command = await agent.waitForQuery("select * from slow");
      expect(command).toMatchObject({ correlationId: res.correlationId, timeoutMs: 800 });
      await agent.waitForFrame("cancel", (f) => f.type === "cancel" && f.correlationId === res.correlationId);
      expect(await hub.api.auditRow(res.correlationId!)).toMatchObject({ status: "timeout", error: { code: "timeout" } });
      await hub.waitForLog((l) => l.msg === "command timed out" && l.correlationId === res.correlationId);
    });

    it("uses --query-timeout as the deadline of a query that names none", async () => {
      const hub = shared();
      const { agent, agentId } = await rawAgents.enrolled(hub, "default-deadline");

      const t0 = performance.now();
      const res: QueryResponse = await hub.api.query(agentId, { query: "select 'no deadline given'" });
      const elapsed = performance.now() - t0;

      expect(res.status).toBe(504);
      expect(res.body.error.code).toBe("timeout");
      expect(elapsed).toBeGreaterThanOrEqual(700 - 300);
      expect(elapsed).toBeLessThanOrEqual(700 + 300);
      expect(await agent.waitForQuery("select 'no deadline given'")).toMatchObject({ timeoutMs: 700 });
    });
  });

  describe("connection loss", () => {
    it("fails all 5 commands in flight at once with 502 agent_disconnected when the socket drops", async () => {
      const hub = shared();
      const { agent, agentId } = await rawAgents.enrolled(hub, "dropping-host");

      const calls = Array.from({ length: 5 }, (_, i) => hub.api.query(agentId, { query: `select ${i}`, timeoutMs: 15_000 }));
      await agent.waitForQueries(5);
      const cut = performance.now();
      await agent.terminate();
      const responses = await Promise.all(calls);
      const waited = performance.now() - cut;

      for (const res of responses) {
        expect(res.status).toBe(502);
        expect(res.body.error.code).toBe("agent_disconnected");
        expect(res.correlationId).toMatch(UUID_V4);
      }
      // "At once": nobody waited for the 15 s deadline.
      expect(waited).toBeLessThan(3_000);
      await waitFor("the agent offline", async () => (await hub.api.agent(agentId)).body.status === "offline");
      for (const res of responses) {
        expect(await hub.api.auditRow(res.correlationId!)).toMatchObject({ status: "error", error: { code: "agent_disconnected" } });
      }
    });

    it("terminates a socket that stops answering pings, failing its pending command", async () => {
      const hub = shared();
      const { agentId, agentKey } = await hub.api.enroll("half-dead");
      const agent = await rawAgents.connect(hub.agentUrl, { agentKey, autoPong: false });

      const res: QueryResponse = await hub.api.query(agentId, { query: "select 'never answered'", timeoutMs: 15_000 });
      expect(res.status).toBe(502);
      expect(res.body.error.code).toBe("agent_disconnected");
      const closed = await agent.closed;
      expect(closed.code).toBe(1006);
      await hub.waitForLog("no pong since the last ping; terminating");
    });

    it("lets the newest connection of an agent win: the older one closes with 4409 and its pending command fails with 502 agent_replaced", async () => {
      const hub = shared();
      const { agent: older, agentId, agentKey } = await rawAgents.enrolled(hub, "twice-connected");

      const pending = hub.api.query(agentId, { query: "select 'on the older socket'", timeoutMs: 15_000 });
      await older.waitForQuery("select 'on the older socket'");
      const newer = await rawAgents.connect(hub.agentUrl, { agentKey, onQuery: (c, a) => a.respond(c) });

      expect((await older.closed).code).toBe(4409);
      const res: QueryResponse = await pending;
      expect(res.status).toBe(502);
      expect(res.body.error.code).toBe("agent_replaced");
      expect(res.correlationId).toMatch(UUID_V4);

      const next: QueryResponse = await hub.api.query(agentId, { query: "select 'on the newer socket'" });
      expect(next.status).toBe(200);
      expect(next.body.result.rows[0]![0]).toBe("select 'on the newer socket'");
      expect(newer.queries.map((c) => c.query)).toEqual(["select 'on the newer socket'"]);
      // The older socket closing does not mark the agent offline: the newer one holds it.
      expect((await hub.api.agent(agentId)).body.status).toBe("online");
    });

    it("closes the live socket with 4403 when the agent is revoked, and refuses its later upgrades with HTTP 403", async () => {
      const hub = shared();
      const { agent, agentId, agentKey } = await rawAgents.enrolled(hub, "to-be-revoked");
      const pending = hub.api.query(agentId, { query: "select 'pending at revoke'", timeoutMs: 15_000 });
      await agent.waitForQuery("select 'pending at revoke'");

      const revoke = await hub.api.delete(`/api/v1/agents/${agentId}`);
      expect(revoke.status).toBe(204);
      expect((await agent.closed).code).toBe(4403);
      const res: QueryResponse = await pending;
      expect(res.status).toBe(502);
      expect(res.body.error.code).toBe("agent_disconnected");

      const refusal = await rawAgents.refused(hub.agentUrl, { agentKey });
      expect(refusal.status).toBe(403);
      expect(refusal.json).toMatchObject({ error: { code: "forbidden" } });
      expect((await hub.api.agent(agentId)).status).toBe(404);
      const after: QueryResponse = await hub.api.query(agentId, { query: "select 1" });
      expect(after.status).toBe(404);
      expect(after.body.error.code).toBe("not_found");
    });
  });

  describe("refused upgrades", () => {
    it("answers plain HTTP 401 before upgrading when the key is wrong, missing or malformed", async () => {
      const hub = shared();
      const { agentId } = await hub.api.enroll("key-check");
      const refusedBefore = await hub.api.metric("uplink_agent_upgrades_refused_total", { status: "401" });
      const acceptedBefore = await hub.api.metric("uplink_agent_connections_total");
      for (const agentKey of [`${agentId}.wrong-secret`, undefined, "no-dot-at-all", "agt_unknown.secret"]) {
        const refusal = await rawAgents.refused(hub.agentUrl, { agentKey });
        expect(refusal.status, `key ${agentKey}`).toBe(401);
        expect(refusal.json).toMatchObject({ error: { code: "unauthorized" } });
      }
      expect(await hub.api.metric("uplink_agent_upgrades_refused_total", { status: "401" })).toBe(refusedBefore + 4);
      expect(await hub.api.metric("uplink_agent_connections_total")).toBe(acceptedBefore);
    });

    it("answers 426 to an unsupported Uplink-Protocol", async () => {
      const hub = shared();
      const { agentKey } = await hub.api.enroll("future-agent");
      for (const version of ["9", "0", "two"]) {
        const refusal = await rawAgents.refused(hub.agentUrl, { agentKey, headers: { "uplink-protocol": version } });
        expect(refusal.status, `Uplink-Protocol: ${version}`).toBe(426);
        expect(refusal.headers["uplink-protocol"]).toBe("2");
      }
    });

    it("answers 503 with Retry-After at the admission cap, and a refused attempt takes no slot", async () => {
      const hub = await hubs.start({ args: ["--max-agents", "1"] });
      const first = await rawAgents.enrolled(hub, "first-in");
      const { agentKey } = await hub.api.enroll("second-in");
      for (let i = 0; i < 3; i++) {
        const refusal = await rawAgents.refused(hub.agentUrl, { agentKey });
        expect(refusal.status).toBe(503);
        expect(Number(refusal.headers["retry-after"])).toBeGreaterThan(0);
      }
      await first.agent.close();
      await waitFor("the second agent admitted", () =>
        rawAgents.connect(hub.agentUrl, { agentKey }).then(
          () => true,
          () => false,
        ),
      );
    });
  });

  describe("query routing errors", () => {
    it("answers 409 agent_offline for an enrolled agent that is not connected", async () => {
      const hub = shared();
      const { agentId } = await hub.api.enroll("never-connected");
      const res: QueryResponse = await hub.api.query(agentId, { query: "select 1" });
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe("agent_offline");
      expect(res.correlationId).toMatch(UUID_V4);
      expect(await hub.api.auditRow(res.correlationId!)).toMatchObject({ status: "offline", error: { code: "agent_offline" } });
    });

    it("answers 404 not_found for an unknown agent", async () => {
      const hub = shared();
      const res: QueryResponse = await hub.api.query("agt_does_not_exist", { query: "select 1" });
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe("not_found");
      expect(res.correlationId).toMatch(UUID_V4);
    });

    it("hands an unknown, a duplicate and a late reply to no caller; the next query still gets its own answer", async () => {
      const hub = shared();
      const { agent, agentId } = await rawAgents.enrolled(hub, "noisy-host");
      const sessionId = "one-session-for-all";

      const late: QueryResponse = await hub.api.query(agentId, { sessionId, query: "select 'late'", timeoutMs: 300 });
      expect(late.status).toBe(504);
      const lateCommand = await agent.waitForQuery("select 'late'");

      agent.onQuery = (c, a) => a.respond(c);
      const answered: QueryResponse = await hub.api.query(agentId, { sessionId, query: "select 'answered'" });
      expect(answered.status).toBe(200);
      const answeredCommand = await agent.waitForQuery("select 'answered'");
      agent.onQuery = undefined;

      const waiting = track(hub.api.query(agentId, { sessionId, query: "select 'waiting'", timeoutMs: 10_000 }));
      const waitingCommand = await agent.waitForQuery("select 'waiting'");
      const orphansBefore = await hub.api.metric("uplink_orphan_replies_total");

      const stranger = randomUUID();
      agent.respond({ ...waitingCommand, query: "select 'intruder'" }, undefined, { correlationId: stranger });
      agent.respond(answeredCommand);
      agent.respond(lateCommand);
      for (const id of [stranger, answeredCommand.correlationId, lateCommand.correlationId]) {
        await hub.waitForLog((l) => l.msg === "orphan reply dropped" && l.correlationId === id);
      }
      expect(waiting.settled()).toBe(false);
      expect(await hub.api.metric("uplink_orphan_replies_total")).toBe(orphansBefore + 3);

      agent.respond(waitingCommand);
      const res = await waiting.promise;
      expect(res.status).toBe(200);
      expect(res.body.result.rows).toEqual([["select 'waiting'", sessionId, res.correlationId]]);
    });

    it("fails a command at once with 502 bad_response when the agent's reply to it is malformed", async () => {
      const hub = shared();
      const { agent, agentId } = await rawAgents.enrolled(hub, "sloppy-host");

      const schemaBroken = hub.api.query(agentId, { query: "select 'broken frame'", timeoutMs: 10_000 });
      const c1 = await agent.waitForQuery("select 'broken frame'");
      agent.send({ type: "session_response", sessionId: c1.sessionId, correlationId: c1.correlationId, ok: "yes" });
      const res1: QueryResponse = await schemaBroken;
      expect(res1.status).toBe(502);
      expect(res1.body.error.code).toBe("bad_response");

      const resultBroken = hub.api.query(agentId, { query: "select 'broken result'", timeoutMs: 10_000 });
      const c2 = await agent.waitForQuery("select 'broken result'");
      agent.respond(c2, { ok: true, result: { rows: "not an array" } });
      const res2: QueryResponse = await resultBroken;
      expect(res2.status).toBe(502);
      expect(res2.body.error.code).toBe("bad_response");
      expect(await hub.api.auditRow(res2.correlationId!)).toMatchObject({ status: "error", error: { code: "bad_response" } });
    });
  });

  describe("hostile frames", () => {
    it("never crashes on garbage frames and closes the socket with 1008 after more than 10 violations", async () => {
      const hub = shared();
      const { agent, agentId } = await rawAgents.enrolled(hub, "garbage-host", { onQuery: (c, a) => a.respond(c) });
      const violationsBefore = await hub.api.metric("uplink_frame_violations_total");

      const garbage: (() => void)[] = [
        () => agent.sendText("this is not JSON {"),
        () => agent.sendBinary(Buffer.from([0xde, 0xad, 0xbe, 0xef])),
        () => agent.sendText("[1, 2, 3]"),
        () => agent.sendText("null"),
        () => agent.send({ type: "no_such_frame" }),
        () => agent.send({ type: "session_response" }),
        () => agent.send({ type: "session_response", sessionId: "s", ok: true, error: "e".repeat(200_000) }),
        () => agent.send({ type: "session_response", sessionId: "x".repeat(10_000), ok: true }),
        () => agent.send({ type: "session_response", sessionId: "s", correlationId: 42, ok: true }),
        () => agent.send({ type: "hello", protocol: "two" }),
      ];
      for (const send of garbage) {
        send();
        expect((await hub.api.get("/healthz", { token: null })).status).toBe(200);
      }
      await waitFor("10 violations counted", async () => (await hub.api.metric("uplink_frame_violations_total")) === violationsBefore + 10);

      // Ten violations are tolerated: the socket still works.
      expect(agent.isOpen).toBe(true);
      const res: QueryResponse = await hub.api.query(agentId, { query: "select 'still here'" });
      expect(res.status).toBe(200);
      expect(res.body.result).toEqual(echoResult({ type: "session_command", query: "select 'still here'", sessionId: res.body.result.rows[0]![1] as string, correlationId: res.correlationId! }));

      agent.sendText("one violation too many");
      expect((await agent.closed).code).toBe(1008);
      expect((await hub.api.get("/healthz", { token: null })).status).toBe(200);
      expect(hub.running).toBe(true);
      await waitFor("the agent offline", async () => (await hub.api.agent(agentId)).body.status === "offline");
      await waitFor("11 violations logged", () => hub.logsMatching({ msg: "invalid agent frame", agentId }).length === 11);
    });

    it("closes a frame over --max-payload (256 KiB here) with 1009 and stays up", async () => {
      const hub = shared();
      const { agent } = await rawAgents.enrolled(hub, "big-mouth");
      agent.sendText(JSON.stringify({ type: "session_response", sessionId: "s", ok: true, error: "x".repeat(300_000) }));
      expect((await agent.closed).code).toBe(1009);
      expect((await hub.api.get("/healthz", { token: null })).status).toBe(200);
      await sleep(50);
      expect(hub.running).toBe(true);
    });
  });
});
