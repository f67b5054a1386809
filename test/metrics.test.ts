import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { sumMetric } from "./fixtures/http.js";
import { useHubs, useSharedHub, type HubProcess } from "./fixtures/hub-process.js";
import { enrollFleet, waitUntilStatus } from "./fixtures/fleet.js";
import { REPO_ROOT } from "./fixtures/process.js";
import { useRawAgents, type HubCommand, type RawAgent } from "./fixtures/raw-agent.js";
import { useSseClients } from "./fixtures/sse.js";
import { waitFor } from "./fixtures/wait.js";

/** One scrape of `/metrics`, to compare counters as deltas between two moments. */
class Scrape {
  constructor(readonly text: string) {}

  static async of(hub: HubProcess): Promise<Scrape> {
    const res = await hub.api.scrape();
    expect(res.status).toBe(200);
    return new Scrape(res.text);
  }

  value(name: string, labels: Record<string, string> = {}): number {
    return sumMetric(this.text, name, labels);
  }

  /** How much `name` (summed over the series with `labels`) grew since `before`. */
  since(before: Scrape, name: string, labels: Record<string, string> = {}): number {
    return this.value(name, labels) - before.value(name, labels);
  }
}

describe("Metrics", () => {
  const shared = useSharedHub({ logLevel: "info", args: ["--enroll-rate", "1000"] });
  const hubs = useHubs();
  const rawAgents = useRawAgents();
  const sse = useSseClients();

  it("counts a fan-out's commands by kind and outcome: sent, answered, failed, busy, timed out, orphaned, offline never sent", async () => {
    const hub = shared();
    const before = await Scrape.of(hub);
    const plan = { ok: 3, error: 2, busy: 1, never: 2, offline: 2 };
    const members = Object.entries(plan).flatMap(([group, n]) => Array.from({ length: n }, (_, i) => ({ hostname: `m-${group}-${i}`, labels: { suite: "metrics", group } })));
    const fleet = await enrollFleet(hub, rawAgents.connect, members);
    const connectedNow = await Scrape.of(hub);
    expect(connectedNow.since(before, "uplink_agents_connected")).toBe(members.length);
    expect(connectedNow.since(before, "uplink_agent_connections_total")).toBe(members.length);
    expect(connectedNow.since(before, "uplink_events_published_total", { type: "agent.connected" })).toBe(members.length);

    const neverAnswering: { agent: RawAgent; command?: HubCommand }[] = [];
    fleet.forEach((a, i) => {
      const group = members[i]!.labels.group;
      if (group === "ok") a.agent.onQuery = (c, agent) => agent.respond(c);
      else if (group === "error") a.agent.onQuery = (c, agent) => agent.respond(c, { ok: false, code: "query_failed", error: "no such table" });
      else if (group === "busy") a.agent.onQuery = (c, agent) => agent.respond(c, { ok: false, code: "busy", error: "4 queries in flight" });
      else if (group === "never") {
        const entry: { agent: RawAgent; command?: HubCommand } = { agent: a.agent };
        a.agent.onQuery = (c) => (entry.command = c);
        neverAnswering.push(entry);
      }
    });
    const offline = fleet.filter((_, i) => members[i]!.labels.group === "offline");
    await Promise.all(offline.map((a) => a.agent.terminate()));
    await waitUntilStatus(hub, offline.map((a) => a.agentId), "offline");
    const start = await Scrape.of(hub);

    const res = await hub.api.post("/api/v1/queries", { query: "select 1", targets: { labels: { suite: "metrics" } }, timeoutMs: 1200 });
    expect(res.status).toBe(202);
    // While the two never-answering commands wait for their deadline, they are the pending ones.
    await waitFor("2 pending commands", async () => (await hub.api.metric("uplink_pending_commands")) === 2, { intervalMs: 20, timeoutMs: 1000 });
    const stream = await sse.open(hub.url, `/api/v1/queries/${res.body.id}/stream`, { token: hub.adminToken });
    await stream.waitForEnd();
    // One of them answers after its deadline: an orphan, never handed to anyone.
    const late = neverAnswering[0]!;
    late.agent.respond(late.command!);
    await waitFor("the late reply counted", async () => (await hub.api.metric("uplink_orphan_replies_total", { reason: "unknown" })) > start.value("uplink_orphan_replies_total", { reason: "unknown" }));
    const end = await Scrape.of(hub);

    const answered = plan.ok + plan.error + plan.busy;
    const sentToSockets = answered + plan.never;
    expect(end.since(start, "uplink_fanouts_total")).toBe(1);
    expect(end.since(start, "uplink_commands_sent_total", { kind: "query" })).toBe(sentToSockets);
    expect(end.since(start, "uplink_commands_completed_total", { kind: "query", outcome: "ok" })).toBe(plan.ok);
    expect(end.since(start, "uplink_commands_completed_total", { kind: "query", outcome: "error" })).toBe(plan.error);
    expect(end.since(start, "uplink_commands_completed_total", { kind: "query", outcome: "busy" })).toBe(plan.busy);
    expect(end.since(start, "uplink_commands_completed_total", { kind: "query", outcome: "timeout" })).toBe(plan.never);
    expect(end.since(start, "uplink_commands_completed_total", { kind: "query", outcome: "disconnected" })).toBe(0);
    expect(end.since(start, "uplink_command_duration_seconds_count", { kind: "query" })).toBe(answered);
    expect(end.since(start, "uplink_orphan_replies_total", { reason: "unknown" })).toBe(1);
    // The README's alert: commands written to a socket whose answer never came back.
    const sentNotAnswered =
      end.since(start, "uplink_commands_sent_total", { kind: "query" }) -
      ["ok", "error", "busy"].reduce((n, outcome) => n + end.since(start, "uplink_commands_completed_total", { kind: "query", outcome }), 0);
    expect(sentNotAnswered).toBe(plan.never);
    // Every store write is timed: the fan-out's creation, then its results, which land in waves (the
    // quick answers and the offline targets first, the timed-out ones later) and are stored a wave per write.
    expect(end.since(start, "uplink_store_write_seconds_count")).toBeGreaterThanOrEqual(3);
    expect(end.since(start, "uplink_events_published_total", { type: "query.done" })).toBe(1);
    await waitFor("no pending commands", async () => (await hub.api.metric("uplink_pending_commands")) === 0, { intervalMs: 20 });

    await Promise.all(fleet.map((a) => a.agent.terminate()));
    await waitFor("agents gone from the gauge", async () => (await hub.api.metric("uplink_agents_connected")) === before.value("uplink_agents_connected"));
  });

  it("counts failed health polls (each one cancelled at the agent) and the health change they cause", async () => {
    const hub = await hubs.start({ healthInterval: "300ms", logLevel: "info" });
    const before = await Scrape.of(hub);
    // Not enrollFleet: it waits for `online`, which this agent may already have lost.
    const { agentId, agentKey } = await hub.api.enroll("no-health");
    const silent = await rawAgents.connect(hub.agentUrl, { agentKey, hostname: "no-health", autoHealth: false });
    const cancels = () => silent.cancels.filter((c) => silent.healthPolls.some((p) => p.correlationId === c.correlationId)).length;
    await silent.waitUntil("3 health polls cancelled", () => (cancels() >= 3 ? true : undefined), 5000);
    expect((await hub.api.agent(agentId)).body.status).toBe("unresponsive");
    await silent.terminate();
    await waitUntilStatus(hub, [agentId], "offline");
    const after = await Scrape.of(hub);

    expect(after.since(before, "uplink_health_poll_failures_total")).toBe(cancels());
    expect(after.since(before, "uplink_commands_completed_total", { kind: "health", outcome: "timeout" })).toBe(cancels());
    expect(after.since(before, "uplink_events_published_total", { type: "agent.health_changed" })).toBe(1);
    expect(after.since(before, "uplink_events_published_total", { type: "agent.disconnected" })).toBe(1);
    expect(after.value("uplink_agents_connected")).toBe(0);
  });

  it("gauges open SSE clients by stream, and exposes process metrics", async () => {
    const hub = shared();
    const before = await Scrape.of(hub);
    const [slow] = await enrollFleet(hub, rawAgents.connect, [{ hostname: "sse-gauge" }]);
    const started = await hub.api.post("/api/v1/queries", { query: "select 1", targets: { agentIds: [slow!.agentId] }, timeoutMs: 10_000 });
    const eventsA = await sse.open(hub.url, "/api/v1/events", { token: hub.adminToken });
    const eventsB = await sse.open(hub.url, "/api/v1/events", { token: hub.adminToken });
    const results = await sse.open(hub.url, `/api/v1/queries/${started.body.id}/stream`, { token: hub.adminToken });
    const gauge = async (stream: string) => (await Scrape.of(hub)).since(before, "uplink_sse_clients", { stream });
    await waitFor("3 SSE clients", async () => (await gauge("events")) === 2 && (await gauge("fanout")) === 1);

    await eventsA.close();
    await waitFor("an events client gone", async () => (await gauge("events")) === 1);
    // A result stream ends with its fan-out.
    const command = await slow!.agent.waitForQueries(1);
    slow!.agent.respond(command[0]!);
    await results.waitForEnd();
    await waitFor("the result stream gone", async () => (await gauge("fanout")) === 0);
    await eventsB.close();
    await waitFor("all gone", async () => (await gauge("events")) === 0);

    const scrape = await Scrape.of(hub);
    expect(scrape.value("process_resident_memory_bytes")).toBeGreaterThan(0);
    expect(scrape.text).toMatch(/^nodejs_eventloop_lag_seconds /m);
    expect(scrape.text).toMatch(/^uplink_command_duration_seconds_bucket\{le="0.005",kind="query"\} /m);
  });

  it("documents in the README every uplink_* metric the hub exposes", async () => {
    const hub = shared();
    const exposed = new Set([...(await Scrape.of(hub)).text.matchAll(/^# HELP (uplink_\w+) /gm)].map((m) => m[1]!));
    expect(exposed.size).toBeGreaterThan(10);
    const readme = await readFile(`${REPO_ROOT}README.md`, "utf8");
    const section = readme.slice(readme.indexOf("## Fan-out, events and metrics"));
    expect(section.length).toBeLessThan(readme.length);
    const documented = new Set([...section.matchAll(/`(uplink_\w+?)(?:\{[^`]*\})?`/g)].map((m) => m[1]!));
    expect([...exposed].filter((name) => !documented.has(name)), "exposed but not documented").toEqual([]);
    expect([...documented].filter((name) => !exposed.has(name)), "documented but not exposed").toEqual([]);
  });
});
