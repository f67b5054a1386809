import { afterEach, describe, expect, it } from "vitest";
import { useHubs, useSharedHub, type HubProcess } from "./fixtures/hub-process.js";
import { healthResult, useRawAgents, type RawAgent } from "./fixtures/raw-agent.js";
import { useSseClients, type SseEvent } from "./fixtures/sse.js";
import { waitFor } from "./fixtures/wait.js";

/** The event log's bound in the test that fills it (`--event-max-rows`; the default, 10,000, is checked in config.test.ts). */
const EVENT_LOG_SIZE = 300;
const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** Ids are consecutive integers: nothing was skipped and nothing came twice. */
function expectConsecutive(ids: number[]): void {
  for (let i = 1; i < ids.length; i++) expect(ids[i], `id after ${ids[i - 1]}`).toBe(ids[i - 1]! + 1);
}

/** What a client saw, comparable across clients. */
const seen = (events: SseEvent[]) => events.map((e) => ({ event: e.event, id: e.id, data: e.json }));

describe("Hub events stream", () => {
  // Health polls time out after one interval, so an agent that stops answering turns unresponsive within ~1 s.
  const shared = useSharedHub({ healthInterval: "600ms", logLevel: "info", args: ["--enroll-rate", "1000"] });
  const hubs = useHubs();
  const rawAgents = useRawAgents();
  const sse = useSseClients();

  /** Health responders started by a test, stopped after it. */
  const responders: NodeJS.Timeout[] = [];
  afterEach(() => {
    for (const timer of responders.splice(0)) clearInterval(timer);
  });

  /** From now on, answers every health poll `agent` receives (it was started with autoHealth false). */
  function answerHealth(agent: RawAgent): () => void {
    const from = agent.healthPolls.length;
    let answered = from;
    const timer = setInterval(() => {
      const polls = agent.healthPolls;
      for (; answered < polls.length; answered++) agent.respond(polls[answered]!, { ok: true, result: healthResult() });
    }, 10);
    responders.push(timer);
    return () => clearInterval(timer);
  }

  const events = (hub: HubProcess, opts: { lastEventId?: number | string; after?: number; token?: string | null } = {}) =>
    sse.open(hub.url, `/api/v1/events${opts.after === undefined ? "" : `?after=${opts.after}`}`, {
      token: opts.token === undefined ? hub.adminToken : opts.token,
      ...(opts.lastEventId === undefined ? {} : { lastEventId: opts.lastEventId }),
    });

  /** The events that concern these agents, fan-outs or commands. */
  const about = (list: SseEvent[], ids: { agentId?: string; fanoutId?: string; correlationId?: string }) =>
    list.filter(
      (e) =>
        (ids.agentId !== undefined && e.json?.agentId === ids.agentId) ||
        (ids.fanoutId !== undefined && e.json?.fanoutId === ids.fanoutId) ||
        (ids.correlationId !== undefined && e.json?.correlationId === ids.correlationId),
    );

  it("streams agent connected, health changed (to unresponsive and back), query done and disconnected, in order, with ids", async () => {
    const hub = shared();
    const stream = await events(hub);
    expect(stream.status).toBe(200);
    expect(stream.headers["content-type"]).toMatch(/^text\/event-stream/);

    const { agentId, agentKey } = await hub.api.enroll("eventful");
    const agent = await rawAgents.connect(hub.agentUrl, { agentKey, hostname: "eventful", autoHealth: false });
    await stream.waitForEvent("agent.connected", (e) => e.event === "agent.connected" && e.json.agentId === agentId);

    // It never answers its first health polls: the hub marks it unresponsive…
    const down = await stream.waitForEvent("unresponsive", (e) => e.event === "agent.health_changed" && e.json.agentId === agentId, 5000);
    expect(down.json).toMatchObject({ agentId, from: "online", to: "unresponsive", health: null });
    expect((await hub.api.agent(agentId)).body.status).toBe("unresponsive");
    // …and back online once it answers again.
    const stopAnswering = answerHealth(agent);
    const up = await stream.waitForEvent("online again", (e) => e.event === "agent.health_changed" && e.json.agentId === agentId && e.json.to === "online", 5000);
    expect(up.json).toMatchObject({ agentId, from: "unresponsive", to: "online", health: { status: "ok", agentVersion: "raw-agent/1.0" } });

    agent.onQuery = (command, a) => a.respond(command);
    const fanout = await hub.api.post("/api/v1/queries", { query: "select 1", targets: { agentIds: [agentId] } });
    expect(fanout.status).toBe(202);
    const fanoutId = fanout.body.id as string;
    const fanoutDone = await stream.waitForEvent("query.done of the fan-out", (e) => e.event === "query.done" && e.json.fanoutId === fanoutId);
    expect(fanoutDone.json).toMatchObject({ fanoutId, targetCount: 1, counts: { pending: 0, ok: 1, error: 0, timeout: 0, offline: 0 } });
    const single = await hub.api.query(agentId, { query: "select 2" });
    expect(single.status).toBe(200);
    const singleDone = await stream.waitForEvent("query.done of the query", (e) => e.event === "query.done" && e.json.correlationId === single.correlationId);
    expect(singleDone.json).toMatchObject({ correlationId: single.correlationId, agentId, status: "ok" });

    stopAnswering();
    await agent.terminate();
    await stream.waitForEvent("agent.disconnected", (e) => e.event === "agent.disconnected" && e.json.agentId === agentId);

    const mine = about(stream.events, { agentId, fanoutId, correlationId: single.correlationId! });
    expect(mine.map((e) => e.event)).toEqual(["agent.connected", "agent.health_changed", "agent.health_changed", "query.done", "query.done", "agent.disconnected"]);
    expect(mine[0]!.json).toMatchObject({ agentId, protocol: 2 });
    for (const e of stream.events) expect(e.json.at, `${e.event} ${e.id}`).toMatch(ISO_TIME);
    // A live client misses nothing from the moment it connected: ids are consecutive.
    expectConsecutive(stream.ids());
  });

  it("replays exactly what a client missed when it reconnects with Last-Event-ID, then continues live", async () => {
    const hub = shared();
    const watcher = await events(hub);
    const client = await events(hub);

    const x = await hub.api.enroll("replay-x");
    const agentX = await rawAgents.connect(hub.agentUrl, { agentKey: x.agentKey, hostname: "replay-x" });
    await client.waitForEvent("x connected", (e) => e.event === "agent.connected" && e.json.agentId === x.agentId);
    await client.close();
    const lastSeen = Number(client.events.at(-1)!.id);

    // While it is away: another agent connects and answers a fan-out, and the first one goes away.
    const y = await hub.api.enroll("replay-y");
    const agentY = await rawAgents.connect(hub.agentUrl, { agentKey: y.agentKey, hostname: "replay-y", onQuery: (c, a) => a.respond(c) });
    const fanout = await hub.api.post("/api/v1/queries", { query: "select 1", targets: { agentIds: [y.agentId] } });
    await agentX.terminate();
    await watcher.waitForEvent("y's fan-out done", (e) => e.event === "query.done" && e.json.fanoutId === fanout.body.id);
    await watcher.waitForEvent("x disconnected", (e) => e.event === "agent.disconnected" && e.json.agentId === x.agentId);
    const missed = watcher.events.filter((e) => Number(e.id) > lastSeen);
    expect(about(missed, { agentId: y.agentId, fanoutId: fanout.body.id }).map((e) => e.event)).toEqual(["agent.connected", "query.done"]);

    const back = await events(hub, { lastEventId: lastSeen });
    await back.waitForCount(missed.length);
    expect(seen(back.events.slice(0, missed.length))).toEqual(seen(missed));
    expect(Number(back.events[0]!.id)).toBe(lastSeen + 1);

    // Then it is live again: the next event reaches it and the watcher alike.
    await agentY.terminate();
    const next = await back.waitForEvent("y disconnected", (e) => e.event === "agent.disconnected" && e.json.agentId === y.agentId);
    const watcherNext = await watcher.waitForEvent("y disconnected", (e) => e.event === "agent.disconnected" && e.json.agentId === y.agentId);
    expect(next.id).toBe(watcherNext.id);
    expect(seen(back.events)).toEqual(seen(watcher.events.filter((e) => Number(e.id) > lastSeen && Number(e.id) <= Number(next.id))));
    expectConsecutive(back.ids());
    expectConsecutive(watcher.ids());

    // `?after=<seq>` is the same as Last-Event-ID on a first connection…
    const viaQuery = await events(hub, { after: lastSeen });
    await viaQuery.waitForCount(back.events.length);
    expect(seen(viaQuery.events.slice(0, back.events.length))).toEqual(seen(back.events));
    // …and only its starting point: Last-Event-ID (what an EventSource opened on `?after=` sends when it
    // reconnects, on the same URL) wins over it.
    const resumed = await sse.open(hub.url, "/api/v1/events?after=0", { token: hub.adminToken, lastEventId: Number(next.id) - 1 });
    const resumedFirst = await resumed.waitForCount(1);
    expect(resumedFirst[0]!.id).toBe(next.id);
  });

  it("needs a read token, and refuses a Last-Event-ID that is not a sequence number (400) instead of starting elsewhere", async () => {
    const hub = shared();
    const refused = await events(hub, { token: null });
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.body).error.code).toBe("unauthorized");

    const reader = await hub.api.createToken("api", "read", "events-reader");
    const bad = await events(hub, { token: reader, lastEventId: "not-a-number" });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error).toEqual({ code: "invalid_request", message: 'Last-Event-ID must be the id of an event of this stream (a non-negative integer), not "not-a-number"' });

    const stream = await events(hub, { token: reader });
    expect(stream.status).toBe(200);
    const { agentId, agentKey } = await hub.api.enroll("reader-sees");
    await rawAgents.connect(hub.agentUrl, { agentKey, hostname: "reader-sees" });
    const first = await stream.waitForEvent("reader-sees connected", (e) => e.event === "agent.connected" && e.json.agentId === agentId);
    // A first connection replays nothing: the first event is the live one.
    expect(stream.events[0]).toBe(first);
  });

  it("keeps the event log across a hub restart: a client that lost the hub replays the disconnects of the shutdown", async () => {
    const dataDir = await hubs.tempDir();
    const first = await hubs.start({ dataDir, logLevel: "info" });
    const enrolled = await first.api.enroll("restart-host");
    const stream = await events(first);
    await rawAgents.connect(first.agentUrl, { agentKey: enrolled.agentKey, hostname: "restart-host" });
    await stream.waitForEvent("connected", (e) => e.event === "agent.connected" && e.json.agentId === enrolled.agentId);
    const lastSeen = Number(stream.events.at(-1)!.id);

    expect((await hubs.stop(first)).code).toBe(0);
    await stream.waitForEnd();
    const second = await hubs.start({ dataDir, logLevel: "info" });
    const back = await events(second, { lastEventId: lastSeen });
    const gone = await back.waitForEvent("disconnected at shutdown", (e) => e.event === "agent.disconnected" && e.json.agentId === enrolled.agentId);
    expect(Number(gone.id)).toBe(lastSeen + 1);
    expect(back.events[0]).toBe(gone);
  });

  it("keeps the newest --event-max-rows events: a replay from before them starts with a gap event", async () => {
    const hub = await hubs.start({ logLevel: "info", args: ["--event-max-rows", String(EVENT_LOG_SIZE), "--prune-interval", "100ms"] });
    // Fan-outs that match no agent: one query.done event each, and little else to do.
    const total = EVENT_LOG_SIZE + 200;
    let sent = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (sent < total) {
          sent++;
          const res = await hub.api.post("/api/v1/queries", { query: "select 1", targets: { labels: { none: "matches" } } });
          if (res.status !== 202) throw new Error(`fan-out: ${res.status} ${res.text}`);
        }
      }),
    );
    // The pruner, on its timer, brings the log down to exactly the bound.
    await waitFor("the events past the bound pruned", async () => (await hub.api.metric("uplink_pruned_rows_total", { table: "events" })) === total - EVENT_LOG_SIZE);
    const tail = await events(hub, { lastEventId: total - 1 });
    await tail.waitForCount(1);
    expect(tail.events[0]).toMatchObject({ event: "query.done", id: String(total) });

    const fromStart = await events(hub, { lastEventId: 0 });
    const gap = await fromStart.waitForEvent("gap", () => true);
    const resumedAt = total - EVENT_LOG_SIZE + 1;
    expect(gap).toMatchObject({ event: "gap", id: String(resumedAt - 1), json: { lastEventId: 0, resumedAt, kept: EVENT_LOG_SIZE } });
    const replayed = await fromStart.waitForCount(EVENT_LOG_SIZE + 1);
    expect(replayed).toHaveLength(EVENT_LOG_SIZE + 1);
    expectConsecutive(fromStart.ids().slice(1));
    expect(fromStart.events.at(-1)!.id).toBe(String(total));
    // A client still within the log gets no gap.
    const within = await events(hub, { lastEventId: resumedAt - 1 });
    await within.waitForCount(EVENT_LOG_SIZE);
    expect(within.events[0]).toMatchObject({ event: "query.done", id: String(resumedAt) });
    expect(within.named("gap")).toEqual([]);
  }, 60_000);
});
