import { describe, expect, it } from "vitest";
import type { ApiResponse, ErrorBody, QueryAnswer } from "./fixtures/http.js";
import { useHubs } from "./fixtures/hub-process.js";
import { uplink } from "./fixtures/process.js";
import { maxInflightPerSession, sessionOf, useRawAgents, type HubCommand, type RawAgent, type RawAgentOptions } from "./fixtures/raw-agent.js";
import { seededRandom, waitFor } from "./fixtures/wait.js";

type Frame = Record<string, unknown>;

/** Only `session_id`, never `sessionId`. */
function sessionIdOnly(f: Frame): Frame {
  const { sessionId, ...rest } = f;
  return { ...rest, session_id: sessionId ?? f.session_id };
}
/** A failure's error as a bare string, without `code`. */
function errorString(f: Frame): Frame {
  const { code: _code, ...rest } = f;
  return f.ok === false ? rest : f;
}
/** A success's result fields at the top level, with no `result`. */
function topLevelResult(f: Frame): Frame {
  const { result, ...rest } = f;
  return f.ok === true && typeof result === "object" && result !== null ? { ...rest, ...result } : f;
}
function noOk(f: Frame): Frame {
  const { ok: _ok, ...rest } = f;
  return rest;
}

/**
 * An agent in the field, each writing its replies in one legacy shape. `traits` is what the agents list
 * must show for it once it answered a query and an error; `code` is the code its failures carry.
 */
const FIELD_AGENTS: { name: string; opts: Pick<RawAgentOptions, "hello" | "replyAs">; traits: string[]; code: string }[] = [
  { name: "no ok", opts: { replyAs: noOk }, traits: ["no_ok"], code: "query_failed" },
  { name: "error string", opts: { replyAs: errorString }, traits: ["error_string"], code: "agent_error" },
  {
    name: "error object",
    opts: { replyAs: (f) => (f.ok === false ? { ...errorString(f), error: { code: f.code, message: f.error } } : f) },
    traits: ["error_object"],
    code: "query_failed",
  },
  { name: "session_id", opts: { replyAs: sessionIdOnly }, traits: ["session_id"], code: "query_failed" },
  { name: "result fields at the top level", opts: { replyAs: topLevelResult }, traits: ["top_level_result"], code: "query_failed" },
  { name: "no hello", opts: { hello: false }, traits: ["no_hello"], code: "query_failed" },
  {
    // The correlation-ID gist's agent: `sessResp(sessionId)` plus an error string or the result fields,
    // spelled session_id, no hello, no ok, no timing; a health poll answered with a bare acknowledgement.
    name: "the gist's agent (all of them at once)",
    opts: {
      hello: false,
      replyAs: (f) => {
        const { durationMs: _d, ...rest } = noOk(sessionIdOnly(errorString(topLevelResult(f))));
        return sessionOf(f) === "uplink-health" ? { type: rest.type, session_id: rest.session_id } : rest;
      },
    },
    traits: ["no_hello", "no_ok", "error_string", "session_id", "top_level_result"],
    code: "agent_error",
  },
];

const failure = (command: HubCommand) => ({ ok: false as const, code: "query_failed", error: `no such table: ${command.query}` });

describe("Protocol-1 agents in the field, in every legacy reply shape", () => {
  const hubs = useHubs();
  const rawAgents = useRawAgents();

  it.each(FIELD_AGENTS)("$name: answers and errors at once, online through health polls, no violation, never a crossed or late reply", async ({ opts, traits, code }) => {
    const hub = await hubs.start({ healthInterval: "200ms", queryTimeout: "10s" });
    const { agentId, agentKey } = await hub.api.enroll("field-host");
    const agent: RawAgent = await rawAgents.connect(hub.agentUrl, { agentKey, protocol: 1, hostname: "field-host", ...opts });

    // Health polls answered in the agent's own shape keep it online (a failing poll would turn it unresponsive).
    await agent.waitUntil("three health polls", () => (agent.healthPolls.length >= 3 ? true : undefined));
    await waitFor("the health polls recorded", async () => (await hub.api.agent(agentId)).body.lastSeenAt !== null && (await hub.api.metric("uplink_commands_completed_total", { kind: "health", outcome: "ok" })) >= 3);
    expect((await hub.api.agent(agentId)).body.status).toBe("online");
    expect(await hub.api.metric("uplink_health_poll_failures_total")).toBe(0);

    // One query and one error, each answered at once.
    agent.onQuery = (command) => agent.respond(command, command.query.includes("fail") ? failure(command) : undefined);
    const answered = await hub.api.query(agentId, { sessionId: "one", query: "select 'answered'" });
    expect(answered.status).toBe(200);
    expect(answered.body.result.rows).toEqual([["select 'answered'", "one", null]]);
    const failed = await hub.api.query(agentId, { sessionId: "one", query: "select 'fail'" });
    expect(failed.status).toBe(502);
    expect(failed.body.error).toEqual({ code, message: "no such table: select 'fail'" });
    expect(await hub.api.auditRow(failed.correlationId!)).toMatchObject({ status: "error", error: { code, message: "no such table: select 'fail'" } });

    // Many callers over several sessions, answered out of order across sessions, some with errors.
    const sessions = ["alpha", "beta", "gamma", "delta"];
    const sent = sessions.flatMap((sessionId) => Array.from({ length: 5 }, (_, i) => ({ sessionId, query: `select '${sessionId}' as s, ${i} as n${i % 3 === 0 ? " -- fail" : ""}` })));
    const random = seededRandom(7);
    agent.onQuery = (command) => agent.later(Math.floor(random() * 60), () => agent.respond(command, command.query.includes("fail") ? failure(command) : undefined));
    const calls: Promise<ApiResponse<QueryAnswer & ErrorBody>>[] = sent.map((body) => hub.api.query(agentId, body));
    const responses = await Promise.all(calls);
    responses.forEach((res, i) => {
      const { query, sessionId } = sent[i]!;
      if (query.includes("fail")) {
        expect(res.status, `caller ${i}`).toBe(502);
        expect(res.body.error, `caller ${i}`).toEqual({ code, message: `no such table: ${query}` });
      } else {
        expect(res.status, `caller ${i}`).toBe(200);
        expect(res.body.result.rows, `caller ${i}`).toEqual([[query, sessionId, null]]);
      }
    });
    const max = maxInflightPerSession(agent);
    for (const session of [...sessions, "uplink-health"]) expect(max.get(session), `max in flight on ${session}`).toBe(1);

    // A reply after its caller timed out never reaches the session's next caller.
    agent.onQuery = undefined;
    const late = await hub.api.query(agentId, { sessionId: "s", query: "select 'late'", timeoutMs: 300 });
    expect(late.status).toBe(504);
    const lateCommand = await agent.waitForQuery("select 'late'");
    const next = hub.api.query(agentId, { sessionId: "s", query: "select 'next'", timeoutMs: 5_000 });
    // The next caller is held back while the timed-out command's reply may still come.
    await waitFor("the next caller pending", async () => (await hub.api.history({ agentId })).queries.some((q) => q.query === "select 'next'" && q.status === "pending"));
    expect(agent.queries.map((c) => c.query)).not.toContain("select 'next'");
    agent.respond(lateCommand);
    agent.respond(await agent.waitForQuery("select 'next'"));
    const nextRes = await next;
    expect(nextRes.status).toBe(200);
    expect(nextRes.body.result.rows).toEqual([["select 'next'", "s", null]]);
    expect(await hub.api.metric("uplink_orphan_replies_total", { reason: "late" })).toBe(1);
    expect(await hub.api.metric("uplink_orphan_replies_total")).toBe(1);

    // Legacy shapes are read, counted by shape, and shown; none is a violation.
    expect(await hub.api.metric("uplink_frame_violations_total")).toBe(0);
    for (const shape of traits.filter((t) => t !== "no_hello")) expect(await hub.api.metric("uplink_legacy_replies_total", { shape }), shape).toBeGreaterThan(0);
    const other = ["no_ok", "error_string", "error_object", "session_id", "top_level_result"].filter((s) => !traits.includes(s));
    for (const shape of other) expect(await hub.api.metric("uplink_legacy_replies_total", { shape }), shape).toBe(0);
    const { body: view } = await hub.api.agent(agentId);
    expect(view).toMatchObject({ status: "online", protocol: 1, legacyShapes: traits });
    const listed = await uplink(["--hub", hub.url, "--token", hub.adminToken, "agents"]);
    expect(listed.code).toBe(0);
    const row = listed.stdout.split("\n").find((l) => l.startsWith(agentId));
    const helloFields = traits.includes("no_hello") ? "unknown" : "raw-agent/1\\.0";
    expect(row).toMatch(new RegExp(`^${agentId}\\s+field-host\\s+online\\s+${helloFields}\\s+1\\s+${traits.join(",")}\\s`));
    expect(agent.isOpen).toBe(true);
  }, 30_000);

  it("shows what an agent that never says hello did not report as unknown, in the REST view and `uplink agent`", async () => {
    const hub = await hubs.start({ healthInterval: "200ms" });
    const { agentId, agentKey } = await hub.api.enroll("silent-host");
    await rawAgents.connect(hub.agentUrl, { agentKey, protocol: 1, hello: false, replyAs: noOk });
    await waitFor("its first reply read", async () => (await hub.api.agent(agentId)).body.legacyShapes !== null);
    const { body } = await hub.api.agent(agentId);
    expect(body).toMatchObject({ hostname: "silent-host", status: "online", protocol: 1, agentVersion: null, platform: null, arch: null, legacyShapes: ["no_hello", "no_ok"] });
    expect(body.lastHealth).toMatchObject({ status: "ok", agentVersion: "raw-agent/1.0" });

    const shown = await uplink(["--hub", hub.url, "--token", hub.adminToken, "agent", agentId]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^version\s+unknown$/m);
    expect(shown.stdout).toMatch(/^protocol\s+1$/m);
    expect(shown.stdout).toMatch(/^shape\s+no_hello,no_ok$/m);
    expect(shown.stdout).toMatch(/^platform\s+unknown$/m);
  }, 20_000);
});
