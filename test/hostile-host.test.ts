import { afterEach, describe, expect, it } from "vitest";
import type { ErrorBody } from "./fixtures/http.js";
import { useSharedHub } from "./fixtures/hub-process.js";
import { uplink } from "./fixtures/process.js";
import { echoResult, useRawAgents, type HubCommand, type RawAgent } from "./fixtures/raw-agent.js";
import type { AgentList } from "../packages/protocol/dist/index.js";

/**
 * A hostile host, played by scripted raw-socket agents against a real hub. Each case sends what a
 * compromised or broken agent could, and asserts what the operator sees (status, body, CLI output) and
 * that the hub stays up and keeps serving a well-behaved neighbour.
 */

/** Everything about a reply except what the case overrides, as a raw text frame. */
function replyText(command: HubCommand, fields: string): string {
  return `{"type":"session_response","sessionId":${JSON.stringify(command.sessionId)},"correlationId":${JSON.stringify(command.correlationId)},${fields}}`;
}

const ONE_ROW = '"result":{"columns":["a"],"rows":[[1]],"rowCount":1,"truncated":false}';

describe("hostile hosts", () => {
  // Each case enrolls its own agents: more than the default 30 enrollments a minute.
  const hub = useSharedHub({ queryTimeout: "10s", args: ["--enroll-rate", "1000"] });
  const raw = useRawAgents();
  let neighbour: { agent: RawAgent; agentId: string } | undefined;

  /** A well-behaved agent on the same hub; every case ends by checking it is still served. */
  async function decentNeighbour(): Promise<{ agentId: string }> {
    neighbour ??= await raw.enrolled(hub(), "decent", { onQuery: (c, a) => a.respond(c) });
    return neighbour;
  }
  afterEach(() => {
    neighbour = undefined; // its socket is closed by useRawAgents' cleanup
  });

  /** The hub answers /healthz and the decent neighbour's query with its own reply. */
  async function hubStillServes(): Promise<void> {
    expect((await hub().api.get("/healthz")).status).toBe(200);
    const { agentId } = await decentNeighbour();
    const answer = await hub().api.query(agentId, { query: "select 'still here'" });
    expect(answer.status).toBe(200);
    expect(answer.body.result.rows[0]?.[0]).toBe("select 'still here'");
  }

  /** Enrolls a hostile agent whose answer to every query is written by `reply`. */
  async function hostile(name: string, reply: (command: HubCommand, agent: RawAgent) => void) {
    await decentNeighbour();
    return raw.enrolled(hub(), name, { onQuery: reply });
  }

  const badResponse = (body: ErrorBody, message: RegExp) => {
    expect(body.error.code).toBe("bad_response");
    expect(body.error.message).toMatch(message);
  };

  it("keeps __proto__ and constructor keys as plain data: columns shown exactly, nothing inherited or flipped", async () => {
    const { agentId } = await hostile("proto", (c, a) =>
      a.sendText(
        replyText(
          c,
          '"ok":true,"__proto__":{"ok":false,"code":"read_only"},"constructor":{"prototype":{"polluted":true}},' +
            '"result":{"__proto__":{"rows":[["inherited"]]},"columns":["__proto__","constructor"],"rows":[["x","y"]],"rowCount":1,"truncated":false}',
        ),
      ),
    );
    const answer = await hub().api.query(agentId, { query: "select 1" });
    expect(answer.status).toBe(200);
    expect(answer.body.result).toEqual({ columns: ["__proto__", "constructor"], rows: [["x", "y"]], rowCount: 1, truncated: false });
    expect(answer.text).not.toContain("polluted");
    const cli = await uplink(["query", agentId, "select 1"], { env: { UPLINK_HUB: hub().url, UPLINK_TOKEN: hub().adminToken } });
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout.split("\n")[0]).toBe("__proto__  constructor");
    await hubStillServes();
  });

  it("cannot pollute prototypes or match label filters through __proto__ and constructor labels in hello", async () => {
    await decentNeighbour();
    const hello = (labels: string) =>
      `{"type":"hello","protocol":2,"agentVersion":"1","hostname":"proto-labels","platform":"linux","arch":"x64","capabilities":["correlation-id"],"labels":${labels}}`;
    // One agent sends label values that are objects (a prototype-pollution attempt), another plain strings
    // under the same dangerous names.
    const objects = await hub().api.enroll("proto-objects");
    (await raw.connect(hub().agentUrl, { agentKey: objects.agentKey, hello: false })).sendText(hello('{"__proto__":{"env":"prod"},"constructor":{"prototype":{"env":"prod"}}}'));
    const strings = await hub().api.enroll("proto-strings");
    (await raw.connect(hub().agentUrl, { agentKey: strings.agentKey, hello: false })).sendText(hello('{"__proto__":"env","constructor":"prod","toString":"x"}'));
    await expect.poll(async () => (await hub().api.agent(strings.agentId)).body.status).toBe("online");
    for (const filter of ["env=prod", "__proto__=env", "hasOwnProperty=x", "constructor=prod"]) {
      const { status, body } = await hub().api.get(`/api/v1/agents?label=${encodeURIComponent(filter)}`);
      expect(status, filter).toBe(200);
      const ids = (body as AgentList).agents.map((a) => a.id);
      expect(ids, filter).not.toContain(objects.agentId);
      expect(ids, filter).not.toContain((await decentNeighbour()).agentId);
      if (filter !== "constructor=prod") expect(ids, filter).not.toContain(strings.agentId);
    }
    // Whatever the hub kept of these labels, none of them reads as env=prod.
    for (const { agentId } of [objects, strings]) expect((await hub().api.agent(agentId)).text).not.toMatch(/"env":"prod"/);
    await hubStillServes();
  });

  it("refuses a deeply nested reply unparsed, failing its command at once instead of stalling the hub", async () => {
    const depth = 2_000_000; // 4 MB of brackets: seconds of JSON.parse on the hub's event loop if it were parsed
    const { agentId } = await hostile("nested", (c, a) => a.sendText(replyText(c, `"ok":true,"extra":${"[".repeat(depth)}${"]".repeat(depth)},${ONE_ROW}`)));
    const answer = await hub().api.query(agentId, { query: "select 1", timeoutMs: 30_000 });
    expect(answer.status).toBe(502);
    badResponse(answer.body, /frame nests deeper than 32 levels/);
    expect(await hub().api.auditRow(answer.correlationId!)).toMatchObject({ status: "error", error: { code: "bad_response" } });
    await hubStillServes();
  });

  it("refuses an unauthenticated enrollment body nested a megabyte deep, unparsed", async () => {
    await decentNeighbour();
    const depth = 500_000;
    const body = `{"token":"x","hostname":"h","labels":{},"pad":${"[".repeat(depth)}${"]".repeat(depth)}}`;
    const answer = await hub().api.request("POST", "/api/v1/enroll", { body, token: null, headers: { "content-type": "application/json" } });
    expect(answer.status).toBe(400);
    expect(answer.body).toEqual({ error: { code: "invalid_request", message: "request body nests deeper than 32 levels" } });
    await hubStillServes();
  });

  it("refuses a reply with hundreds of thousands of object keys unparsed", async () => {
    const keys = Array.from({ length: 200_000 }, (_, i) => `"k${i}":1`).join(",");
    const { agentId } = await hostile("keys", (c, a) => a.sendText(replyText(c, `"ok":true,${keys},${ONE_ROW}`)));
    const answer = await hub().api.query(agentId, { query: "select 1", timeoutMs: 30_000 });
    expect(answer.status).toBe(502);
    badResponse(answer.body, /frame has 20000\d object keys, more than 10000/);
    await hubStillServes();
  });

  it("refuses a result with more columns than SQLite can produce", async () => {
    const columns = Array.from({ length: 40_000 }, (_, i) => `c${i}`);
    const { agentId } = await hostile("columns", (c, a) =>
      a.respond(c, { ok: true, result: { columns, rows: [columns.map(() => 1)], rowCount: 1, truncated: false } }),
    );
    const answer = await hub().api.query(agentId, { query: "select 1" });
    expect(answer.status).toBe(502);
    badResponse(answer.body, /malformed query result: columns: .*32767/);
    await hubStillServes();
  });

  it("refuses results whose rows do not match their columns or whose rowCount lies", async () => {
    const shapes = new Map<string, unknown>([
      ["narrow", { columns: ["a", "b"], rows: [["only a"]], rowCount: 1, truncated: false }],
      ["wide", { columns: ["a"], rows: [[1], [1, "forged", "cells"]], rowCount: 2, truncated: false }],
      ["count", { columns: ["a"], rows: [[1]], rowCount: 1_000_000, truncated: false }],
    ]);
    const { agentId } = await hostile("shapes", (c, a) => a.respond(c, { ok: true, result: shapes.get(c.query) }));
    const narrow = await hub().api.query(agentId, { query: "narrow" });
    expect(narrow.status).toBe(502);
    badResponse(narrow.body, /row 0 has 1 cells for 2 columns/);
    const wide = await hub().api.query(agentId, { query: "wide" });
    expect(wide.status).toBe(502);
    badResponse(wide.body, /row 1 has 3 cells for 1 columns/);
    const count = await hub().api.query(agentId, { query: "count" });
    expect(count.status).toBe(502);
    badResponse(count.body, /rowCount 1000000 does not match the 1 rows sent/);
    await hubStillServes();
  });

  it("refuses negative, infinite and non-numeric durations and infinite cells at once", async () => {
    const frames = new Map<string, string>([
      ["negative", `"ok":true,${ONE_ROW},"durationMs":-5`],
      ["infinite", `"ok":true,${ONE_ROW},"durationMs":1e999`],
      ["string", `"ok":true,${ONE_ROW},"durationMs":"12"`],
      ["cell", `"ok":true,"result":{"columns":["a"],"rows":[[-1e999]],"rowCount":1,"truncated":false}`],
    ]);
    const { agentId } = await hostile("durations", (c, a) => a.sendText(replyText(c, frames.get(c.query)!)));
    for (const [query, message] of [
      ["negative", /durationMs: Too small/],
      ["infinite", /durationMs: .*Infinity/],
      ["string", /durationMs: .*expected number/],
      ["cell", /malformed query result/],
    ] as const) {
      const answer = await hub().api.query(agentId, { query, timeoutMs: 30_000 });
      expect(answer.status, query).toBe(502);
      badResponse(answer.body, message);
    }
    await hubStillServes();
  });

  it("drops a reply carrying another agent's correlationId; each caller gets its own answer", async () => {
    const victim = await raw.enrolled(hub(), "victim");
    const thief = await hostile("thief", (c, a) => a.respond(c));
    const orphansBefore = await hub().api.metric("uplink_orphan_replies_total");
    const victimCall = hub().api.query(victim.agentId, { query: "victim's question" });
    const [stolen] = await victim.agent.waitForQueries(1);
    // The thief answers the victim's command (a correlationId it was never sent), before the victim does.
    thief.agent.respond({ ...stolen!, sessionId: stolen!.sessionId }, { ok: true, result: { columns: ["forged"], rows: [["by thief"]], rowCount: 1, truncated: false } });
    await expect.poll(() => hub().api.metric("uplink_orphan_replies_total")).toBe(orphansBefore + 1);
    victim.agent.respond(stolen!);
    const answer = await victimCall;
    expect(answer.status).toBe(200);
    expect(answer.body.result).toEqual(echoResult(stolen!));
    const own = await hub().api.query(thief.agentId, { query: "thief's own" });
    expect(own.body.result.rows[0]?.[0]).toBe("thief's own");
    await hubStillServes();
  });

  it("fails a command answered in a binary frame at once, as bad_response", async () => {
    const { agentId } = await hostile("binary", (c, a) => a.sendBinary(Buffer.from(replyText(c, `"ok":true,${ONE_ROW}`))));
    const answer = await hub().api.query(agentId, { query: "select 1", timeoutMs: 30_000 });
    expect(answer.status).toBe(502);
    badResponse(answer.body, /binary frame; frames are JSON text/);
    await hubStillServes();
  });

  it("keeps the first of a flood of replies to one command, drops the rest, and cuts the flooder", async () => {
    const { agent, agentId } = await hostile("flood", (c, a) => {
      for (let i = 0; i < 3_000; i++) a.respond(c, { ok: true, result: { columns: ["i"], rows: [[i]], rowCount: 1, truncated: false } });
    });
    const answer = await hub().api.query(agentId, { query: "select 1" });
    expect(answer.status).toBe(200);
    expect(answer.body.result.rows).toEqual([[0]]);
    // Past the unsolicited-frame rate, each frame is a violation; past the budget the socket closes with 1008.
    expect((await agent.closed).code).toBe(1008);
    expect(await hub().api.auditRow(answer.correlationId!)).toMatchObject({ status: "ok", result: { rows: [[0]] } });
    await hubStillServes();
  });

  it("never hands a pending command someone else's answer when a second hello arrives mid-flight", async () => {
    const { agent, agentId } = await hostile("rehello", () => undefined);
    const call = hub().api.query(agentId, { query: "mid-flight" });
    const [command] = await agent.waitForQueries(1);
    agent.send({ type: "hello", protocol: 2, agentVersion: "evil/9", hostname: "someone-else", platform: "linux", arch: "x64", labels: {}, capabilities: ["correlation-id"] });
    agent.send({ type: "hello", protocol: 1, agentVersion: "evil/9", hostname: "x".repeat(10_000), platform: "linux", arch: "x64" });
    agent.respond(command!);
    const answer = await call;
    // The hub may keep the connection (then the caller gets its own reply) or drop it for the second hello
    // (then the caller is told at once); it never answers with anything else.
    if (answer.status === 200) expect(answer.body.result).toEqual(echoResult(command!));
    else expect({ status: answer.status, code: answer.body.error.code }).toEqual({ status: 502, code: "agent_disconnected" });
    await hubStillServes();
  });

  it("shows bidi overrides and zero-width characters in hostnames visibly in `uplink agents`", async () => {
    await decentNeighbour();
    const lookalike = "decent\u200b";
    const reversed = "evil\u202eexe.txt";
    const a = await raw.enrolled(hub(), lookalike);
    const b = await raw.enrolled(hub(), reversed);
    const out = await uplink(["agents"], { env: { UPLINK_HUB: hub().url, UPLINK_TOKEN: hub().adminToken } });
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).not.toMatch(/[\u200b\u202e]/);
    const rowOf = (id: string) => out.stdout.split("\n").find((l) => l.startsWith(id)) ?? "";
    // Whatever hostname the hub kept (a stricter hub may refuse these), the CLI shows its invisible characters.
    const stored = async (id: string) => (await hub().api.agent(id)).body.hostname;
    expect(rowOf(a.agentId)).toContain((await stored(a.agentId)).replace("\u200b", "\\u200b"));
    expect(rowOf(b.agentId)).toContain((await stored(b.agentId)).replace("\u202e", "\\u202e"));
    // --json keeps the hostnames exact.
    const json = await uplink(["--json", "agents"], { env: { UPLINK_HUB: hub().url, UPLINK_TOKEN: hub().adminToken } });
    const hostnames = (JSON.parse(json.stdout) as AgentList).agents;
    expect(hostnames.find((x) => x.id === a.agentId)?.hostname).toBe(await stored(a.agentId));
    await hubStillServes();
  });

  it("passes an error message up to the limit whole, and refuses a longer one naming the limit", async () => {
    const { agentId } = await hostile("errors", (c, a) =>
      a.respond(c, { ok: false, code: "query_failed", error: c.query === "at limit" ? "E".repeat(64 * 1024) : "E".repeat(64 * 1024 + 1) }),
    );
    const atLimit = await hub().api.query(agentId, { query: "at limit" });
    expect(atLimit.status).toBe(502);
    expect(atLimit.body.error).toEqual({ code: "query_failed", message: "E".repeat(64 * 1024) });
    const over = await hub().api.query(agentId, { query: "over" });
    expect(over.status).toBe(502);
    badResponse(over.body, /error: Too big: expected string to have <=65536 characters/);
    await hubStillServes();
  });

  it("does not let a host invent error codes or answer with the hub's own", async () => {
    const { agentId } = await hostile("codes", (c, a) => a.respond(c, { ok: false, code: c.query, error: "trust me" }));
    for (const code of ["unauthorized", "forbidden", "agent_offline", "totally_made_up"]) {
      const answer = await hub().api.query(agentId, { query: code });
      expect(answer.status, code).toBe(502);
      expect(answer.body.error).toEqual({ code: "bad_response", message: `agent answered with code "${code}", which agents may not send: trust me` });
    }
    const cli = await uplink(["query", agentId, "unauthorized"], { env: { UPLINK_HUB: hub().url, UPLINK_TOKEN: hub().adminToken } });
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/^uplink: 502 bad_response: agent answered with code "unauthorized"/);
    // A code agents may send still reaches the operator as is.
    const resource = await hub().api.query(agentId, { query: "resource_limit" });
    expect(resource.body.error).toEqual({ code: "resource_limit", message: "trust me" });
    await hubStillServes();
  });

  it("answers ok:true without a result and ok:false without a code as errors, never as success", async () => {
    const frames = new Map<string, string>([
      ["no result", `"ok":true`],
      ["null result", `"ok":true,"result":null`],
      ["no code", `"ok":false`],
    ]);
    const { agentId } = await hostile("shapeless", (c, a) => a.sendText(replyText(c, frames.get(c.query)!)));
    const noResult = await hub().api.query(agentId, { query: "no result" });
    expect(noResult.status).toBe(502);
    badResponse(noResult.body, /malformed query result/);
    expect((await hub().api.query(agentId, { query: "null result" })).status).toBe(502);
    const noCode = await hub().api.query(agentId, { query: "no code" });
    expect(noCode.status).toBe(502);
    expect(noCode.body.error).toEqual({ code: "agent_error", message: "agent answered an error without a message" });
    await hubStillServes();
  });
});
