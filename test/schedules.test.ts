import { describe, expect, it } from "vitest";
import type { ScheduleResults, ScheduleRun, ScheduleView } from "../packages/protocol/dist/index.js";
import { enrollMany } from "./fixtures/hardening.js";
import { useHubs, type HubProcess } from "./fixtures/hub-process.js";
import type { HubCommand, RawAgent } from "./fixtures/raw-agent.js";
import { useRawAgents } from "./fixtures/raw-agent.js";
import { useSseClients } from "./fixtures/sse.js";
import { useSwarms } from "./fixtures/swarm.js";
import { sleep, waitFor } from "./fixtures/wait.js";

type Row = Record<string, unknown>;

/** An agent whose answer to every query is the process list the test sets. */
function answersWith(rows: () => string[]) {
  return (command: HubCommand, agent: RawAgent) => agent.respond(command, { ok: true, result: { columns: ["name"], rows: rows().map((n) => [n]), rowCount: rows().length, truncated: false } });
}

async function createSchedule(hub: HubProcess, body: Record<string, unknown>): Promise<ScheduleView> {
  const res = await hub.api.post("/api/v1/schedules", body);
  if (res.status !== 201) throw new Error(`create schedule: ${res.status} ${res.text}`);
  return res.body as ScheduleView;
}

/** Every stored run of a schedule on an agent, oldest first. */
async function runsOf(hub: HubProcess, scheduleId: string, agentId: string): Promise<ScheduleRun[]> {
  const res = await hub.api.get(`/api/v1/schedules/${scheduleId}/results?agentId=${agentId}&limit=500`);
  if (res.status !== 200) throw new Error(`results: ${res.status} ${res.text}`);
  return [...(res.body as ScheduleResults).results].reverse();
}

/** Every stored run of a schedule (all agents), oldest first, page after page. */
async function allRuns(hub: HubProcess, scheduleId: string): Promise<ScheduleRun[]> {
  const out: ScheduleRun[] = [];
  for (let before: number | null = null; ; ) {
    const res = await hub.api.get(`/api/v1/schedules/${scheduleId}/results?limit=500${before === null ? "" : `&before=${before}`}`);
    if (res.status !== 200) throw new Error(`results: ${res.status} ${res.text}`);
    const page = res.body as ScheduleResults;
    out.push(...page.results);
    if (page.nextBefore === null) break;
    before = page.nextBefore;
  }
  return out.reverse();
}

const names = (rows: Row[] | null) => (rows ?? []).map((r) => r.name).sort();

describe("Scheduled queries", () => {
  const hubs = useHubs();
  const raw = useRawAgents();
  const sse = useSseClients();
  const swarms = useSwarms();

  it("creates, lists, shows, changes and deletes schedules: validated, names unique, admin to change and read to see, POST idempotent", async () => {
    const hub = await hubs.start();
    const read = hub.api.as(await hub.api.createToken("api", "read"));
    const query = hub.api.as(await hub.api.createToken("api", "query"));
    const body = { name: "processes", query: "select name from processes", interval: "30s", targets: { all: true }, mode: "differential" };

    const created = await hub.api.post("/api/v1/schedules", body, { headers: { "idempotency-key": "create-1" } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: "processes", intervalMs: 30_000, mode: "differential", collector: "host", enabled: true, timeoutMs: null, targets: { all: true } });
    const id = (created.body as ScheduleView).id;
    expect(id).toMatch(/^sch_/);
    expect(created.headers.get("location")).toBe(`/api/v1/schedules/${id}`);
    const replayed = await hub.api.post("/api/v1/schedules", body, { headers: { "idempotency-key": "create-1" } });
    expect(replayed.status).toBe(201);
    expect(replayed.headers.get("idempotent-replayed")).toBe("true");
    expect((replayed.body as ScheduleView).id).toBe(id);

    // The same name again is a conflict; bad intervals, modes and targets are 400s naming the field.
    const again = await hub.api.post("/api/v1/schedules", body);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("name_taken");
    for (const [bad, word] of [
      [{ ...body, name: "x", interval: "500ms" }, "at least 1s"],
      [{ ...body, name: "x", interval: "soon" }, "duration"],
      [{ ...body, name: "x", mode: "stream" }, "mode"],
      [{ ...body, name: "x", targets: {} }, "agentIds, labels or all"],
      [{ ...body, name: "" }, "name"],
      [{ ...body, name: "x", timeoutMs: 3_600_000 }, "timeoutMs"],
      [{ ...body, name: "x", extra: 1 }, "extra"],
    ] as const) {
      const res = await hub.api.post("/api/v1/schedules", bad);
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(res.body.error.code).toBe("invalid_request");
      expect(res.body.error.message).toContain(word);
    }

    // Scopes: read sees, only admin changes.
    expect((await read.get("/api/v1/schedules")).body.schedules.map((s: ScheduleView) => s.id)).toEqual([id]);
    expect((await read.get(`/api/v1/schedules/${id}`)).body.name).toBe("processes");
    expect((await read.post("/api/v1/schedules", { ...body, name: "y" })).status).toBe(403);
    expect((await query.post("/api/v1/schedules", { ...body, name: "y" })).status).toBe(403);
    expect((await read.request("PATCH", `/api/v1/schedules/${id}`, { json: { enabled: false } })).status).toBe(403);
    expect((await read.delete(`/api/v1/schedules/${id}`)).status).toBe(403);
    expect((await hub.api.get("/api/v1/schedules", { token: null })).status).toBe(401);

    const patched = await hub.api.request("PATCH", `/api/v1/schedules/${id}`, { json: { interval: "5m", enabled: false, mode: "snapshot" } });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ id, intervalMs: 300_000, enabled: false, mode: "snapshot" });
    await createSchedule(hub, { ...body, name: "other" });
    const clash = await hub.api.request("PATCH", `/api/v1/schedules/${id}`, { json: { name: "other" } });
    expect(clash.status).toBe(409);
    expect((await hub.api.request("PATCH", `/api/v1/schedules/${id}`, { json: { interval: "0s" } })).status).toBe(400);
    expect((await hub.api.request("PATCH", "/api/v1/schedules/sch_missing", { json: { enabled: true } })).status).toBe(404);

    expect((await hub.api.delete(`/api/v1/schedules/${id}`)).status).toBe(204);
    expect((await hub.api.get(`/api/v1/schedules/${id}`)).status).toBe(404);
    expect((await hub.api.get(`/api/v1/schedules/${id}/results`)).status).toBe(404);
    expect((await hub.api.delete(`/api/v1/schedules/${id}`)).status).toBe(404);
    // A policy id is not a schedule.
    expect((await hub.api.get("/api/v1/schedules/pol_x")).status).toBe(404);
  });

  it("stores exactly the rows added and removed per run in differential mode; an agent's first run is a snapshot; an offline agent catches up against its last stored state", async () => {
    const hub = await hubs.start();
    const events = await sse.open(hub.url, "/api/v1/events?after=0", { token: hub.adminToken });
    const state = { a: ["sshd", "cron"], b: ["sshd"] };
    const a = await raw.enrolled(hub, "diff-a", { onQuery: answersWith(() => state.a) });
    const b = await raw.enrolled(hub, "diff-b", { onQuery: answersWith(() => state.b) });
    const schedule = await createSchedule(hub, { name: "procs", query: "select name from processes", interval: "1s", targets: { agentIds: [a.agentId, b.agentId] }, mode: "differential", timeoutMs: 2_000 });

    // Each scheduled command carries its own correlationId, the schedule's session and a deadline.
    const [first] = await a.agent.waitForQueries(1, 5_000);
    expect(first).toMatchObject({ sessionId: schedule.id, kind: "query", query: "select name from processes", timeoutMs: 2_000 });
    await waitFor("a's first run stored", async () => (await runsOf(hub, schedule.id, a.agentId)).some((r) => r.status === "ok"));
    let runs = await runsOf(hub, schedule.id, a.agentId);
    const snapshot = runs.find((r) => r.status === "ok")!;
    expect(snapshot).toMatchObject({ snapshot: true, removed: [], mode: "differential" });
    expect(names(snapshot.added)).toEqual(["cron", "sshd"]);

    // a's answer changes: cron goes, nginx and postgres come.
    state.a = ["sshd", "nginx", "postgres"];
    await waitFor("a's change stored", async () => (await runsOf(hub, schedule.id, a.agentId)).some((r) => (r.added ?? []).length > 0 && !r.snapshot));
    // b goes offline, and its answer changes while it is away.
    await b.agent.close();
    await waitFor("b's runs fail offline", async () => (await runsOf(hub, schedule.id, b.agentId)).some((r) => r.status === "offline"));
    state.b = ["sshd", "httpd"];
    const bBack = await raw.connect(hub.agentUrl, { hostname: "diff-b", agentKey: b.agentKey, onQuery: answersWith(() => state.b) });
    await bBack.waitForQueries(1, 5_000);
    await waitFor("b's catch-up stored", async () => (await runsOf(hub, schedule.id, b.agentId)).some((r) => (r.added ?? []).length > 0 && !r.snapshot));
    await sleep(1_200);

    // a: one snapshot, one run with exactly the change, and every other ok run empty.
    runs = (await runsOf(hub, schedule.id, a.agentId)).filter((r) => r.status === "ok");
    expect(runs.filter((r) => r.snapshot).length).toBe(1);
    const changes = runs.filter((r) => !r.snapshot && ((r.added ?? []).length > 0 || (r.removed ?? []).length > 0));
    expect(changes.length).toBe(1);
    expect(names(changes[0]!.added)).toEqual(["nginx", "postgres"]);
    expect(names(changes[0]!.removed)).toEqual(["cron"]);
    for (const r of runs.filter((r) => !r.snapshot && r !== changes[0])) expect([r.added, r.removed]).toEqual([[], []]);
    // Slots strictly increase: no run twice.
    const slots = (await runsOf(hub, schedule.id, a.agentId)).map((r) => r.slot);
    expect(new Set(slots).size).toBe(slots.length);

    // b: its catch-up is the diff against what it last answered before going offline, not a new snapshot.
    const bRuns = await runsOf(hub, schedule.id, b.agentId);
    expect(bRuns.filter((r) => r.snapshot).length).toBe(1);
    const catchUp = bRuns.find((r) => !r.snapshot && (r.added ?? []).length > 0)!;
    expect(names(catchUp.added)).toEqual(["httpd"]);
    expect(catchUp.removed).toEqual([]);
    expect(bRuns.indexOf(catchUp)).toBeGreaterThan(bRuns.findIndex((r) => r.status === "offline"));

    // The hub events: a snapshot and a change per agent, carrying the rows, and nothing for unchanged runs.
    await events.waitForEvent("b's catch-up event", (e) => e.event === "schedule.result" && e.json.agentId === b.agentId && !e.json.snapshot);
    const results = events.named("schedule.result").map((e) => e.json);
    const ofA = results.filter((e) => e.agentId === a.agentId);
    expect(ofA.map((e) => e.snapshot)).toEqual([true, false]);
    expect(ofA[1]).toMatchObject({ scheduleId: schedule.id, scheduleName: "procs", mode: "differential", status: "ok", removed: [{ name: "cron" }] });
    expect(ofA[1].runId).toBe(`${schedule.id}:${a.agentId}:${changes[0]!.slot}`);
    expect(ofA[1].correlationId).toBe(changes[0]!.correlationId);
    expect(results.filter((e) => e.agentId === b.agentId).map((e) => [e.snapshot, (e.added ?? []).map((r: Row) => r.name)])).toEqual([
      [true, ["sshd"]],
      [false, ["httpd"]],
    ]);
  });

  it("stores the rows of every run in snapshot mode; survives a restart; a delete stops it at once", async () => {
    const first = await hubs.start();
    const a = await raw.enrolled(first, "snap-a", { onQuery: answersWith(() => ["sshd"]) });
    const schedule = await createSchedule(first, { name: "snap", query: "select name from processes", interval: "1s", targets: { all: true } });
    await waitFor("two runs stored", async () => (await runsOf(first, schedule.id, a.agentId)).filter((r) => r.status === "ok").length >= 2);
    const before = (await runsOf(first, schedule.id, a.agentId)).filter((r) => r.status === "ok");
    expect(before[0]).toMatchObject({ snapshot: true, rows: [{ name: "sshd" }], added: null, removed: null });
    expect(before[1]).toMatchObject({ snapshot: false, rows: [{ name: "sshd" }] });

    expect((await hubs.stop(first)).code).toBe(0);
    const hub = await hubs.start({ dataDir: first.dataDir });
    expect((await hub.api.get(`/api/v1/schedules/${schedule.id}`)).body.name).toBe("snap");
    const back = await raw.connect(hub.agentUrl, { hostname: "snap-a", agentKey: a.agentKey, onQuery: answersWith(() => ["sshd"]) });
    await back.waitForQueries(2, 5_000);
    await waitFor("runs after the restart", async () => (await runsOf(hub, schedule.id, a.agentId)).filter((r) => r.status === "ok").length >= before.length + 2);
    const all = await runsOf(hub, schedule.id, a.agentId);
    expect(new Set(all.map((r) => r.slot)).size).toBe(all.length);

    // Delete: at most a run already claimed before it may still reach the agent; none after.
    expect((await hub.api.delete(`/api/v1/schedules/${schedule.id}`)).status).toBe(204);
    const sent = back.queries.length;
    await sleep(2_500);
    expect(back.queries.length - sent).toBeLessThanOrEqual(1);
  });

  it("SIGTERM while schedules run on 300 agents: exits 0 within the hub's deadline, runs in flight end, and a restart doubles none", async () => {
    const AGENTS = 300;
    const first = await hubs.start({ healthInterval: "30s", pingInterval: "10s", logLevel: "info", args: ["--enroll-rate", "1000000"] });
    const ids = await enrollMany(first.api, AGENTS, "stop", 32);
    const keys = ids.map((i) => i.agentKey);
    const fleet = await swarms.start({ url: first.agentUrl, keys, baseMs: 500, capMs: 2_000, stableMs: 60_000 }, 2);
    await swarms.until(fleet, `${AGENTS} connected`, (t) => t.connected === AGENTS, 60_000);
    const diff = await createSchedule(first, { name: "stop-diff", query: "select 1", interval: "1s", targets: { all: true }, mode: "differential" });
    const snap = await createSchedule(first, { name: "stop-snap", query: "select 2", interval: "1s", targets: { all: true } });
    const scheduleIds = [diff.id, snap.id];
    // Runs land on every agent, each second, then the hub is stopped in the middle of its ticks.
    await waitFor("a run landed on every agent of both schedules", async () => {
      for (const id of scheduleIds) if (new Set((await allRuns(first, id)).filter((r) => r.status === "ok").map((r) => r.agentId)).size < AGENTS) return false;
      return true;
    }, { timeoutMs: 60_000 });
    // The hub's own deadline (5 s) is the only bound: past it, the hub exits 1.
    expect((await hubs.stop(first, 20_000)).code).toBe(0);

    // The same agents come back to the restarted hub, which goes on from each agent's last claimed slot.
    const hub = await hubs.start({ dataDir: first.dataDir, port: first.port, healthInterval: "30s", pingInterval: "10s", logLevel: "info", args: ["--enroll-rate", "1000000"] });
    await swarms.until(fleet, `${AGENTS} connected again`, (t) => t.connected === AGENTS, 60_000);
    const atStart = new Map(await Promise.all(scheduleIds.map(async (id) => [id, (await allRuns(hub, id)).length] as const)));
    await waitFor("two seconds of runs after the restart", async () => {
      for (const id of scheduleIds) if ((await allRuns(hub, id)).length < atStart.get(id)! + 2 * AGENTS) return false;
      return true;
    }, { timeoutMs: 60_000 });
    for (const id of scheduleIds) expect((await hub.api.request("PATCH", `/api/v1/schedules/${id}`, { json: { enabled: false } })).status).toBe(200);
    // Runs in flight when the schedules stopped land; nothing either hub claimed stays pending.
    await waitFor("no run pending", async () => {
      for (const id of scheduleIds) if ((await allRuns(hub, id)).some((r) => r.status === "pending")) return false;
      return true;
    }, { timeoutMs: 30_000 });
    for (const id of scheduleIds) {
      const runs = await allRuns(hub, id);
      // No slot of an agent recorded twice, and no run sent twice (one correlationId each).
      const keysOf = runs.map((r) => `${r.agentId}:${r.slot}`);
      expect(new Set(keysOf).size).toBe(runs.length);
      expect(new Set(runs.map((r) => r.correlationId)).size).toBe(runs.length);
      // Differential: one first snapshot per agent, the restart made none.
      if (id === diff.id) expect(runs.filter((r) => r.snapshot).length).toBe(AGENTS);
    }
  });

  it("spreads 1,000 agents × a 1 s schedule evenly: no second sends more than 2× the mean", async () => {
    const AGENTS = 1_000;
    const hub = await hubs.start({ healthInterval: "30s", pingInterval: "10s", logLevel: "info", args: ["--enroll-rate", "1000000"] });
    const ids = await enrollMany(hub.api, AGENTS, "spread", 32);
    const fleet = await swarms.start({ url: hub.agentUrl, keys: ids.map((i) => i.agentKey), baseMs: 1_000, capMs: 5_000, stableMs: 60_000 }, 2);
    await swarms.until(fleet, `${AGENTS} connected`, (t) => t.connected === AGENTS, 60_000);
    const created = await createSchedule(hub, { name: "spread", query: "select 1", interval: "1s", targets: { all: true } });
    // Let the schedule pick every agent up, then count 6 whole seconds of received queries.
    await sleep(2_000);
    const from = Math.floor(Date.now() / 1000) + 1;
    const report = await swarms.until(fleet, "6 whole seconds counted", (t) => Object.keys(t.queriesBySecond).some((s) => Number(s) >= from + 6), 20_000);
    const perSecond = Array.from({ length: 6 }, (_, i) => report.queriesBySecond[String(from + i)] ?? 0);
    const mean = perSecond.reduce((x, y) => x + y, 0) / perSecond.length;
    console.log(`schedule spread: ${AGENTS} agents × 1 s, queries per second ${JSON.stringify(perSecond)}`);
    expect(mean).toBeGreaterThan(0);
    for (const n of perSecond) expect(n).toBeLessThanOrEqual(2 * mean);
    expect((await hub.api.delete(`/api/v1/schedules/${created.id}`)).status).toBe(204);
  });
});
