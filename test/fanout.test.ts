import { describe, expect, it } from "vitest";
import type { FanoutPage, FanoutView, TargetResult as TargetRow } from "../packages/protocol/dist/index.js";
import { UUID_V4 } from "./fixtures/http.js";
import { useHubs, useSharedHub, type HubProcess } from "./fixtures/hub-process.js";
import { enrollFleet, waitUntilStatus, type FleetAgent } from "./fixtures/fleet.js";
import { useRawAgents, type HubCommand, type RawAgent } from "./fixtures/raw-agent.js";
import { useSseClients, type SseClient, type SseEvent } from "./fixtures/sse.js";
import { waitFor } from "./fixtures/wait.js";

/** A result that names the agent that computed it and the command it answers. */
function ownResult(hostname: string, command: HubCommand) {
  return { columns: ["hostname", "correlationId", "query"], rows: [[hostname, command.correlationId, command.query]], rowCount: 1, truncated: false };
}

/** The deadline of the 200-target fan-out: the never-answering targets time out then. */
const DEADLINE_MS = 2000;

/** Deterministic delay of the i-th slow agent, spread over 300–800 ms. */
const slowDelay = (i: number) => 300 + ((i * 37) % 501);

/** The `result` ids of a stream are exactly `from..to`, in order, each once. */
function expectResultIds(stream: SseClient, from: number, to: number): void {
  const expected = Array.from({ length: to - from + 1 }, (_, i) => from + i);
  expect(stream.ids("result")).toEqual(expected);
}

describe("Fan-out queries", () => {
  const shared = useSharedHub({ logLevel: "info", args: ["--enroll-rate", "100000"] });
  const hubs = useHubs();
  const rawAgents = useRawAgents();
  const sse = useSseClients();

  const view = async (hub: HubProcess, id: string): Promise<FanoutView> => {
    const res = await hub.api.get(`/api/v1/queries/${id}`);
    expect(res.status).toBe(200);
    return res.body as FanoutView;
  };
  const stream = (hub: HubProcess, id: string, opts: { lastEventId?: number; after?: number } = {}) =>
    sse.open(hub.url, `/api/v1/queries/${id}/stream${opts.after === undefined ? "" : `?after=${opts.after}`}`, {
      token: hub.adminToken,
      ...(opts.lastEventId === undefined ? {} : { lastEventId: opts.lastEventId }),
    });

  it("ends each of 200 targets in its own state with its own result: fast and slow ok, errors, timeouts (with cancel), offline at once", async () => {
    const hub = shared();
    const groups = { fast: 80, slow: 40, never: 30, error: 30, offline: 20 } as const;
    type Group = keyof typeof groups;
    const members = (Object.entries(groups) as [Group, number][]).flatMap(([group, n]) =>
      Array.from({ length: n }, (_, i) => ({ group, i, hostname: `${group}-${i}` })),
    );
    const fleet = await enrollFleet(
      hub,
      rawAgents.connect,
      members.map((m) => ({ hostname: m.hostname, labels: { suite: "fanout-200", group: m.group } })),
    );
    const groupOf = new Map<string, Group>();
    const indexOf = new Map<string, number>();
    const agentOf = new Map<string, FleetAgent>();
    fleet.forEach((a, i) => {
      const { group, i: index } = members[i]!;
      groupOf.set(a.agentId, group);
      indexOf.set(a.agentId, index);
      agentOf.set(a.agentId, a);
      const answer = (command: HubCommand, agent: RawAgent) => {
        if (group === "fast") agent.respond(command, { ok: true, result: ownResult(a.hostname, command) });
        else if (group === "slow") agent.later(slowDelay(index), () => agent.respond(command, { ok: true, result: ownResult(a.hostname, command) }));
        else if (group === "error") agent.later(index * 5, () => agent.respond(command, { ok: false, code: "query_failed", error: `no such table: nope (on ${a.hostname})` }));
        // "never": no answer at all.
      };
      a.agent.onQuery = answer;
    });
    const offline = fleet.filter((a) => groupOf.get(a.agentId) === "offline");
    await Promise.all(offline.map((a) => a.agent.terminate()));
    await waitUntilStatus(hub, offline.map((a) => a.agentId), "offline");

    const query = "select hostname from system_info";
    const started = await hub.api.post("/api/v1/queries", { query, targets: { labels: { suite: "fanout-200" } }, timeoutMs: DEADLINE_MS });
    expect(started.status).toBe(202);
    expect(started.body).toEqual({ id: expect.stringMatching(/^fan_/), targetCount: 200 });
    const id = started.body.id as string;
    expect(started.headers.get("location")).toBe(`/api/v1/queries/${id}`);

    // An early client (mostly live) and one that goes away after 50 results and comes back with Last-Event-ID.
    const early = await stream(hub, id);
    const leaving = await stream(hub, id);

    // Offline targets are recorded at once, long before the deadline of the ones that never answer.
    const offlineIds = new Set(offline.map((a) => a.agentId));
    const firstLook = await waitFor("offline targets recorded", async () => {
      const v = await view(hub, id);
      return v.targets.filter((t) => offlineIds.has(t.agentId)).every((t) => t.status === "offline") ? v : undefined;
    }, { timeoutMs: DEADLINE_MS - 500, intervalMs: 20 });
    expect(firstLook.status).toBe("running");
    expect(firstLook.targets.filter((t) => groupOf.get(t.agentId) === "never").every((t) => t.status === "pending")).toBe(true);
    for (const t of firstLook.targets.filter((t) => offlineIds.has(t.agentId))) {
      expect(t.error).toEqual({ code: "agent_offline", message: expect.stringContaining(t.agentId) });
      expect(t.result).toBeNull();
      expect(t.durationMs).toBeLessThan(500);
    }

    await leaving.waitForCount(50, "result");
    await leaving.close();
    const leftAt = Math.max(...leaving.ids("result"));

    // A client that connects mid-way: results already stored, the never-answering ones still pending.
    await waitFor("the fast agents' results stored", async () => ((await view(hub, id)).counts.ok >= groups.fast ? true : undefined), { intervalMs: 20 });
    const midway = await stream(hub, id);
    const atMidway = await view(hub, id);
    expect(atMidway.counts.pending).toBeGreaterThan(0);

    // It comes back with the last id it saw, while the fan-out is still collecting.
    const back = await stream(hub, id, { lastEventId: leftAt });
    expect((await view(hub, id)).status).toBe("running");

    for (const s of [early, midway, back]) await s.waitForEnd(10_000);
    const final = await view(hub, id);

    // Every target ended in exactly one state, with the counts to match.
    expect(final.status).toBe("done");
    expect(final.targetCount).toBe(200);
    expect(final.counts).toEqual({ pending: 0, ok: groups.fast + groups.slow, error: groups.error, timeout: groups.never, offline: groups.offline, cancelled: 0 });
    expect(final.targets).toHaveLength(200);
    expect(new Set(final.targets.map((t) => t.agentId))).toEqual(new Set(fleet.map((a) => a.agentId)));
    const correlationIds = final.targets.map((t) => t.correlationId);
    expect(new Set(correlationIds).size).toBe(200);
    for (const cid of correlationIds) expect(cid).toMatch(UUID_V4);
    expect(final.targets.map((t) => t.resultSeq).sort((a, b) => a! - b!)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));

    const cancels: Promise<unknown>[] = [];
    for (const t of final.targets) {
      const group = groupOf.get(t.agentId)!;
      const agent = agentOf.get(t.agentId)!;
      if (group === "offline") {
        expect(agent.agent.queries).toHaveLength(0);
      } else {
        // Each agent got exactly one command, carrying its row's correlationId and the fan-out as session.
        expect(agent.agent.queries).toHaveLength(1);
        expect(agent.agent.queries[0]).toMatchObject({ correlationId: t.correlationId, sessionId: id, query, timeoutMs: DEADLINE_MS });
      }
      if (group === "fast" || group === "slow") {
        expect(t.status, `${agent.hostname}`).toBe("ok");
        expect(t.error).toBeNull();
        expect(t.result).toEqual({ columns: ["hostname", "correlationId", "query"], rows: [[agent.hostname, t.correlationId, query]], rowCount: 1, truncated: false });
        // A slow agent's result took at least its delay: it is its own answer, not a neighbour's.
        if (group === "slow") expect(t.durationMs).toBeGreaterThanOrEqual(slowDelay(indexOf.get(t.agentId)!) - 20);
      } else if (group === "error") {
        expect(t.status, `${agent.hostname}`).toBe("error");
        expect(t.result).toBeNull();
        expect(t.error).toEqual({ code: "query_failed", message: `no such table: nope (on ${agent.hostname})` });
      } else if (group === "never") {
        expect(t.status, `${agent.hostname}`).toBe("timeout");
        expect(t.result).toBeNull();
        expect(t.error?.code).toBe("timeout");
        expect(t.durationMs).toBeGreaterThanOrEqual(DEADLINE_MS - 20);
        cancels.push(agent.agent.waitForFrame(`cancel of ${t.correlationId}`, (f) => f.type === "cancel" && f.correlationId === t.correlationId, 5000));
      } else {
        expect(t.status, `${agent.hostname}`).toBe("offline");
      }
    }
    await Promise.all(cancels);

    // Each stream: every result once, ids 1..200 in order, each event the stored row, then `done` (id 201, the one after the last result) carrying the counts.
    const rowOf = new Map(final.targets.map((t) => [t.correlationId, t]));
    const checkEvents = (events: SseEvent[]) => {
      for (const e of events) expect(e.json as TargetRow).toEqual(rowOf.get((e.json as TargetRow).correlationId));
    };
    for (const s of [early, midway]) {
      expectResultIds(s, 1, 200);
      checkEvents(s.named("result"));
      expect(s.events.at(-1)).toMatchObject({ event: "done", id: "201", json: final.counts });
      expect(s.events.filter((e) => e.event !== "result" && e.event !== "done")).toEqual([]);
    }
    expectResultIds(leaving, 1, leftAt);
    expectResultIds(back, leftAt + 1, 200);
    checkEvents([...leaving.named("result"), ...back.named("result")]);
    expect(back.events.at(-1)).toMatchObject({ event: "done", id: "201" });

    // After the end: a late client gets everything from the store; a reconnecting one exactly what it missed.
    const late = await stream(hub, id);
    await late.waitForEnd();
    expectResultIds(late, 1, 200);
    checkEvents(late.named("result"));
    expect(late.events.at(-1)).toMatchObject({ event: "done", id: "201", json: final.counts });

    const resumed = await stream(hub, id, { lastEventId: 137 });
    await resumed.waitForEnd();
    expectResultIds(resumed, 138, 200);
    expect(resumed.events.at(-1)).toMatchObject({ event: "done", id: "201" });

    const after = await stream(hub, id, { after: 190 });
    await after.waitForEnd();
    expectResultIds(after, 191, 200);

    // `done` has the id after the last result's: a client that has every result still gets it, and one
    // that resumes after it is told the stream is over (204: an EventSource stops reconnecting).
    const caughtUp = await stream(hub, id, { lastEventId: 200 });
    await caughtUp.waitForEnd();
    expect(caughtUp.events.map((e) => [e.event, e.id])).toEqual([["done", "201"]]);
    const over = await stream(hub, id, { lastEventId: 201 });
    expect(over.status).toBe(204);
    expect(over.events).toEqual([]);

    // Any target's command is also readable on its own, by correlationId.
    const one = final.targets.find((t) => groupOf.get(t.agentId) === "error")!;
    const record = await hub.api.get(`/api/v1/queries/${one.correlationId}`);
    expect(record.status).toBe(200);
    expect(record.correlationId).toBe(one.correlationId);
    expect(record.body).toMatchObject({ correlationId: one.correlationId, fanoutId: id, agentId: one.agentId, status: "error", error: { code: "query_failed" } });
  });

  it("resolves targets: agentIds and labels are a union, every label must match, duplicates count once", async () => {
    const hub = shared();
    const fleet = await enrollFleet(hub, rawAgents.connect, [
      { hostname: "web-eu", labels: { role: "web", region: "eu" } },
      { hostname: "web-us", labels: { role: "web", region: "us" } },
      { hostname: "db-eu", labels: { role: "db", region: "eu" } },
      { hostname: "db-us", labels: { role: "db", region: "us" } },
    ]);
    for (const a of fleet) a.agent.onQuery = (command, agent) => agent.respond(command, { ok: true, result: ownResult(a.hostname, command) });
    const [webEu, , dbEu, dbUs] = fleet.map((a) => a.agentId) as [string, string, string, string];

    const run = async (targets: unknown): Promise<FanoutView> => {
      const res = await hub.api.post("/api/v1/queries", { query: "select 1", targets });
      expect(res.status, res.text).toBe(202);
      const id = res.body.id as string;
      return waitFor(`fan-out ${id} done`, async () => {
        const v = await view(hub, id);
        return v.status === "done" ? v : undefined;
      });
    };
    const agentsOf = (v: FanoutView) => v.targets.map((t) => t.agentId).sort();

    const webInEu = await run({ labels: { role: "web", region: "eu" } });
    expect(agentsOf(webInEu)).toEqual([webEu]);
    expect(webInEu.counts).toMatchObject({ ok: 1, pending: 0 });

    const union = await run({ agentIds: [dbUs, dbUs, webEu], labels: { region: "eu" } });
    expect(agentsOf(union)).toEqual([webEu, dbEu, dbUs].sort());
    expect(union.targetCount).toBe(3);
    for (const t of union.targets) expect(t.result?.rows[0]?.[0]).toBe(fleet.find((a) => a.agentId === t.agentId)!.hostname);

    const nobody = await hub.api.post("/api/v1/queries", { query: "select 1", targets: { labels: { role: "web", region: "mars" } } });
    expect(nobody.status).toBe(202);
    expect(nobody.body.targetCount).toBe(0);
    const empty = await waitFor("empty fan-out done", async () => {
      const v = await view(hub, nobody.body.id);
      return v.status === "done" ? v : undefined;
    });
    expect(empty.targets).toEqual([]);
    const emptyStream = await stream(hub, nobody.body.id);
    await emptyStream.waitForEnd();
    expect(emptyStream.events.map((e) => e.event)).toEqual(["done"]);
  });

  it("refuses bad fan-outs: no targets or an empty label set 400, unknown or revoked agents 400, read scope 403; unknown ids 404", async () => {
    const hub = shared();
    const [a] = await enrollFleet(hub, rawAgents.connect, [{ hostname: "refusals", labels: { suite: "refusals" } }]);
    const revoked = await hub.api.enroll("revoked-one");
    expect((await hub.api.delete(`/api/v1/agents/${revoked.agentId}`)).status).toBe(204);

    // An empty label set, or one named `__proto__` (which a parsed record would drop, leaving it empty), would
    // match every agent: only `all: true` asks for that.
    for (const targets of [{}, { all: false }, { labels: {} }, { labels: JSON.parse('{"__proto__": "refusals"}') as object }]) {
      const res = await hub.api.post("/api/v1/queries", { query: "select 1", targets });
      expect(res.status, JSON.stringify(targets)).toBe(400);
      expect(res.body.error.code).toBe("invalid_request");
    }
    const noQuery = await hub.api.post("/api/v1/queries", { query: " ", targets: { all: true } });
    expect(noQuery.status).toBe(400);
    const unknown = await hub.api.post("/api/v1/queries", { query: "select 1", targets: { agentIds: [a!.agentId, "agt_nope"] } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toEqual({ code: "invalid_request", message: expect.stringContaining("agt_nope") });
    const gone = await hub.api.post("/api/v1/queries", { query: "select 1", targets: { agentIds: [revoked.agentId] } });
    expect(gone.status).toBe(400);
    expect(gone.body.error.message).toContain(revoked.agentId);
    // Nothing was sent for the refused fan-outs.
    expect(a!.agent.queries).toHaveLength(0);

    const reader = hub.api.as(await hub.api.createToken("api", "read", "fanout-reader"));
    const denied = await reader.post("/api/v1/queries", { query: "select 1", targets: { all: true } });
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe("forbidden");

    expect((await hub.api.get("/api/v1/queries/fan_0000000000000000")).status).toBe(404);
    const noStream = await stream(hub, "fan_0000000000000000");
    expect(noStream.status).toBe(404);
    expect(JSON.parse(noStream.body).error.code).toBe("not_found");
    const noToken = await sse.open(hub.url, "/api/v1/queries/fan_0000000000000000/stream", { token: null });
    expect(noToken.status).toBe(401);
  });

  it("targets every enrolled agent with all:true, connected or not, and fails a target whose agent drops mid-query", async () => {
    const hub = await hubs.start({ logLevel: "info", args: ["--enroll-rate", "1000"] });
    const fleet = await enrollFleet(hub, rawAgents.connect, [{ hostname: "all-1" }, { hostname: "all-2" }, { hostname: "all-3" }, { hostname: "all-4" }]);
    const [ok, dropping, quiet, away] = fleet as [FleetAgent, FleetAgent, FleetAgent, FleetAgent];
    ok.agent.onQuery = (command, agent) => agent.respond(command, { ok: true, result: ownResult(ok.hostname, command) });
    dropping.agent.onQuery = (_command, agent) => agent.later(100, () => void agent.terminate());
    quiet.agent.onQuery = (command, agent) => agent.respond(command, { ok: false, code: "timeout", error: "the agent's own deadline passed" });
    await away.agent.terminate();
    await waitUntilStatus(hub, [away.agentId], "offline");
    const revoked = await hub.api.enroll("all-revoked");
    expect((await hub.api.delete(`/api/v1/agents/${revoked.agentId}`)).status).toBe(204);

    const res = await hub.api.post("/api/v1/queries", { query: "select 1", targets: { all: true }, timeoutMs: 5000 });
    expect(res.status).toBe(202);
    expect(res.body.targetCount).toBe(4);
    const done = await stream(hub, res.body.id);
    await done.waitForEnd();
    const v = await view(hub, res.body.id);
    const byAgent = new Map(v.targets.map((t) => [t.agentId, t]));
    expect(byAgent.has(revoked.agentId)).toBe(false);
    expect(byAgent.get(ok.agentId)).toMatchObject({ status: "ok", error: null });
    expect(byAgent.get(dropping.agentId)).toMatchObject({ status: "error", result: null, error: { code: "agent_disconnected" } });
    // Dropping fails the command at once, not at its 5 s deadline.
    expect(byAgent.get(dropping.agentId)!.durationMs).toBeLessThan(4000);
    expect(byAgent.get(quiet.agentId)).toMatchObject({ status: "timeout", error: { code: "timeout", message: "the agent's own deadline passed" } });
    expect(byAgent.get(away.agentId)).toMatchObject({ status: "offline", error: { code: "agent_offline" } });
    expect(v.counts).toEqual({ pending: 0, ok: 1, error: 1, timeout: 1, offline: 1, cancelled: 0 });
    expect(done.named("done")[0]!.json).toEqual(v.counts);
  });

  it("reads a fan-out a page at a time: every target once, in agent-id order, with the header and counts on every page; bad limit or after 400", async () => {
    const hub = shared();
    const groups = ["ok", "ok", "ok", "error", "silent"] as const;
    const fleet = await enrollFleet(hub, rawAgents.connect, Array.from({ length: 23 }, (_, i) => ({ hostname: `paged-${i}`, labels: { suite: "fanout-pages" } })));
    fleet.forEach((a, i) => {
      const group = groups[i % groups.length]!;
      a.agent.onQuery = (command, agent) => {
        if (group === "ok") agent.respond(command, { ok: true, result: ownResult(a.hostname, command) });
        else if (group === "error") agent.respond(command, { ok: false, code: "query_failed", error: "no such table" });
        // "silent": pending until the fan-out is cancelled.
      };
    });
    const silent = fleet.filter((_, i) => groups[i % groups.length] === "silent").length;
    const failing = fleet.filter((_, i) => groups[i % groups.length] === "error").length;
    const started = await hub.api.post("/api/v1/queries", { query: "select 1", targets: { labels: { suite: "fanout-pages" } }, timeoutMs: 60_000 });
    expect(started.status).toBe(202);
    const id = started.body.id as string;
    const counts = { pending: silent, ok: fleet.length - silent - failing, error: failing, timeout: 0, offline: 0, cancelled: 0 };
    const whole = await waitFor("every answering target stored", async () => {
      const v = await view(hub, id);
      return v.counts.pending === silent ? v : undefined;
    });
    expect(whole.counts).toEqual(counts);
    // Without `limit` the answer is the whole fan-out, as before paging: no cursor.
    expect(whole.targets).toHaveLength(fleet.length);
    expect(whole).not.toHaveProperty("nextAfter");

    const page = async (qs: string): Promise<FanoutPage> => {
      const res = await hub.api.get(`/api/v1/queries/${id}?${qs}`);
      expect(res.status, res.text).toBe(200);
      return res.body as FanoutPage;
    };
    const readAll = async (limit: number): Promise<FanoutPage[]> => {
      const pages: FanoutPage[] = [];
      let after: string | null = null;
      do {
        const p: FanoutPage = await page(`limit=${limit}${after === null ? "" : `&after=${encodeURIComponent(after)}`}`);
        pages.push(p);
        after = p.nextAfter;
      } while (after !== null);
      return pages;
    };
    const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
    const sortedIds = fleet.map((a) => a.agentId).sort(byteOrder);
    const statusOf = new Map(whole.targets.map((t) => [t.agentId, t]));
    const { targets: _targets, ...header } = whole;
    for (const limit of [5, 23, 22, 1000]) {
      const pages = await readAll(limit);
      expect(pages).toHaveLength(Math.ceil(fleet.length / limit));
      // Each page: the fan-out's header and the counts of every target; at most `limit` targets; its cursor the last one's id.
      for (const [i, p] of pages.entries()) {
        const { targets, nextAfter, ...rest } = p;
        expect(rest).toEqual(header);
        expect(targets.length).toBe(i < pages.length - 1 ? limit : fleet.length - limit * i);
        expect(nextAfter).toBe(i < pages.length - 1 ? targets.at(-1)!.agentId : null);
        for (const t of targets) expect(t).toEqual(statusOf.get(t.agentId));
      }
      expect(pages.flatMap((p) => p.targets.map((t) => t.agentId))).toEqual(sortedIds);
    }
    // After the last target, or after an id between two of them (a cursor need not be a target).
    expect(await page(`limit=5&after=${sortedIds.at(-1)}`)).toMatchObject({ targets: [], nextAfter: null, counts });
    const between = `${sortedIds[10]}~`;
    expect((await page(`limit=1000&after=${between}`)).targets.map((t) => t.agentId)).toEqual(sortedIds.filter((a) => byteOrder(a, between) > 0));

    for (const qs of ["limit=0", "limit=1001", "limit=abc", "limit=1.5", "limit=-3", "limit=", "after=" + sortedIds[0], "limit=5&after=", `limit=5&after=${"a".repeat(257)}`]) {
      const res = await hub.api.get(`/api/v1/queries/${id}?${qs}`);
      expect(res.status, qs).toBe(400);
      expect(res.body.error.code, qs).toBe("invalid_request");
    }
    expect((await hub.api.get("/api/v1/queries/fan_0000000000000000?limit=5")).status).toBe(404);

    // Once cancelled, every page counts the cancelled targets.
    expect((await hub.api.post(`/api/v1/queries/${id}/cancel`, undefined)).status).toBe(200);
    const ended = await readAll(10);
    const cancelled = { ...counts, pending: 0, cancelled: silent };
    for (const p of ended) expect(p).toMatchObject({ status: "done", counts: cancelled });
    expect(ended.flatMap((p) => p.targets).filter((t) => t.status === "cancelled")).toHaveLength(silent);
    expect(ended.flatMap((p) => p.targets.map((t) => t.agentId))).toEqual(sortedIds);
  });

  it("ends a fan-out that is collecting when the hub shuts down: streamed to the end, and recorded across the restart", async () => {
    const dataDir = await hubs.tempDir();
    const first = await hubs.start({ dataDir, logLevel: "info", args: ["--enroll-rate", "1000"] });
    const fleet = await enrollFleet(first, rawAgents.connect, [{ hostname: "stop-1" }, { hostname: "stop-2" }, { hostname: "stop-3" }]);
    fleet[0]!.agent.onQuery = (command, agent) => agent.respond(command, { ok: true, result: ownResult("stop-1", command) });
    const res = await first.api.post("/api/v1/queries", { query: "select 1", targets: { all: true }, timeoutMs: 30_000 });
    const id = res.body.id as string;
    const live = await stream(first, id);
    await live.waitForCount(1, "result");
    await Promise.all(fleet.slice(1).map((a) => a.agent.waitForQueries(1)));

    expect((await hubs.stop(first)).code).toBe(0);
    // The stream saw every target end, then `done`, before the hub went away.
    await live.waitForEnd();
    expect(live.events.map((e) => e.event)).toEqual(["result", "result", "result", "done"]);
    expect(live.events.at(-1)!.json).toEqual({ pending: 0, ok: 1, error: 2, timeout: 0, offline: 0, cancelled: 0 });

    const second = await hubs.start({ dataDir, logLevel: "info" });
    const v = await view(second, id);
    expect(v.status).toBe("done");
    expect(v.counts).toEqual({ pending: 0, ok: 1, error: 2, timeout: 0, offline: 0, cancelled: 0 });
    for (const a of fleet.slice(1)) {
      expect(v.targets.find((t) => t.agentId === a.agentId)).toMatchObject({ status: "error", error: { code: "hub_shutting_down" } });
    }
    const replay = await stream(second, id);
    await replay.waitForEnd();
    expect(replay.events.map((e) => [e.event, e.id])).toEqual([["result", "1"], ["result", "2"], ["result", "3"], ["done", "4"]]);
  });
});
