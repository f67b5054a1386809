import { randomUUID } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createServer, type Socket } from "node:net";
import { inOrderPer, WebhookReceiver, type ReceivedEvent } from "../packages/hub/test/webhook-receiver.js";
import { useHubs, type HubProcess } from "./fixtures/hub-process.js";
import { uplink } from "./fixtures/process.js";
import { useRawAgents } from "./fixtures/raw-agent.js";
import { changingAnswers, everyEventAccepted, owedEvents, runsInOrder, startProducing, stopProducing } from "./fixtures/scheduled-events.js";
import { useSseClients } from "./fixtures/sse.js";
import { waitFor } from "./fixtures/wait.js";
import type { DestinationList, DestinationView } from "../packages/protocol/dist/index.js";

const SECRET = "e2e-webhook-secret-0123456789";

const FAST_RETRY = ["--destination-retry-min", "100ms", "--destination-retry-max", "1s"];

/**
 * The events these hubs deliver are the product's: `schedule.result` of differential schedules and
 * `policy.changed` of a policy, over scripted agents whose answers change at every run
 * (fixtures/scheduled-events.ts). What a destination must get is read from the hub's own event log.
 */
async function destinationOf(hub: HubProcess, id: string): Promise<DestinationView> {
  return (await hub.api.get<DestinationView>(`/api/v1/destinations/${id}`)).body;
}

describe("Destinations", () => {
  const hubs = useHubs();
  const raw = useRawAgents();
  const sse = useSseClients();
  const receivers: WebhookReceiver[] = [];
  afterEach(async () => {
    for (const r of receivers.splice(0)) await r.close();
  });
  const receiver = async (script?: Parameters<typeof WebhookReceiver.start>[1]) => {
    const r = await WebhookReceiver.start(SECRET, script);
    receivers.push(r);
    return r;
  };

  it("creates, lists, shows and deletes destinations (admin only), never shows a secret, and refuses bad bodies with clear 400s", async () => {
    const hub = await hubs.start();
    const dir = await hubs.tempDir();
    const readToken = await hub.api.createToken("api", "read");
    const queryToken = await hub.api.createToken("api", "query");
    for (const token of [readToken, queryToken]) {
      expect((await hub.api.post("/api/v1/destinations", { kind: "file", path: join(dir, "x.ndjson") }, { token })).body.error.code).toBe("forbidden");
      expect((await hub.api.get("/api/v1/destinations", { token })).status).toBe(403);
    }
    expect((await hub.api.get("/api/v1/destinations", { token: null })).status).toBe(401);

    const hook = await hub.api.post<DestinationView>("/api/v1/destinations", { kind: "webhook", url: "https://siem.example/uplink", secret: SECRET });
    expect(hook.status).toBe(201);
    expect(hook.headers.get("location")).toBe(`/api/v1/destinations/${hook.body.id}`);
    expect(hook.body).toMatchObject({ kind: "webhook", url: "https://siem.example/uplink", path: null, lastError: null });
    expect(hook.body.secretFingerprint).toMatch(/^sha256:[0-9a-f]{16}$/);
    const file = await hub.api.post<DestinationView>("/api/v1/destinations", { kind: "file", path: join(dir, "events.ndjson") });
    expect(file.body).toMatchObject({ kind: "file", url: null, secretFingerprint: null, path: join(dir, "events.ndjson") });

    const list = await hub.api.get<DestinationList>("/api/v1/destinations");
    expect(list.body.destinations.map((d) => d.id)).toEqual([hook.body.id, file.body.id]);
    expect(list.text).not.toContain(SECRET);
    expect((await hub.api.get(`/api/v1/destinations/${hook.body.id}`)).text).not.toContain(SECRET);
    expect((await hub.api.get(`/api/v1/destinations/dst_none`)).body.error.code).toBe("not_found");

    const refused = async (body: unknown, says: string) => {
      const res = await hub.api.post("/api/v1/destinations", body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe("invalid_request");
      expect(res.body.error.message).toContain(says);
    };
    await refused({ kind: "webhook", url: "ftp://siem.example/x", secret: SECRET }, "http:// or https://");
    await refused({ kind: "webhook", url: "not a url", secret: SECRET }, "http:// or https://");
    await refused({ kind: "webhook", url: "https://siem.example/x" }, "secret");
    await refused({ kind: "webhook", url: "https://siem.example/x", secret: "short" }, "at least 16");
    await refused({ kind: "file", path: "relative/events.ndjson" }, "absolute path");
    await refused({ kind: "file", path: join(dir, "missing", "events.ndjson") }, "does not exist");
    await refused({ kind: "file", path: dir }, "not a regular file");
    await refused({ kind: "syslog", path: "/x" }, "kind");
    await refused({ kind: "file", path: join(dir, "y.ndjson"), secret: SECRET }, "secret");

    // POST honours an Idempotency-Key: the repeat answers the first response and creates nothing.
    const key = { "idempotency-key": randomUUID() };
    const first = await hub.api.post<DestinationView>("/api/v1/destinations", { kind: "file", path: join(dir, "once.ndjson") }, { headers: key });
    const again = await hub.api.post<DestinationView>("/api/v1/destinations", { kind: "file", path: join(dir, "once.ndjson") }, { headers: key });
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body.id).toBe(first.body.id);
    expect((await hub.api.get<DestinationList>("/api/v1/destinations")).body.destinations).toHaveLength(3);

    expect((await hub.api.delete(`/api/v1/destinations/${hook.body.id}`, { token: readToken })).status).toBe(403);
    expect((await hub.api.delete(`/api/v1/destinations/${hook.body.id}`)).status).toBe(204);
    expect((await hub.api.delete(`/api/v1/destinations/${hook.body.id}`)).body.error.code).toBe("not_found");
    expect((await hub.api.get<DestinationList>("/api/v1/destinations")).body.destinations.map((d) => d.id)).toEqual([file.body.id, first.body.id]);
  });

  it("manages destinations from the CLI: create, list, delete", async () => {
    const hub = await hubs.start();
    const dir = await hubs.tempDir();
    const cli = (args: string[], env: Record<string, string> = {}) => uplink(["--hub", hub.url, "--token", hub.adminToken, ...args], { env });
    const created = await cli(["destinations", "create", "--url", "http://127.0.0.1:9/hook"], { UPLINK_DESTINATION_SECRET: SECRET });
    expect(created.code, created.stderr).toBe(0);
    const id = created.stdout.split(" ")[0]!;
    expect(created.stdout).toMatch(/^dst_[0-9a-f]+ webhook http:\/\/127\.0\.0\.1:9\/hook secret sha256:[0-9a-f]{16}\n$/);
    expect((await cli(["--json", "destinations", "create", "--path", join(dir, "e.ndjson")])).code).toBe(0);
    const usage = await cli(["destinations", "create", "--url", "http://127.0.0.1:9/hook"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("--secret");
    const bad = await cli(["destinations", "create", "--path", "relative.ndjson"]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("absolute path");

    const listed = await cli(["destinations", "list"]);
    expect(listed.stdout).toContain(id);
    expect(listed.stdout).toContain(join(dir, "e.ndjson"));
    expect(listed.stdout).not.toContain(SECRET);
    expect((await cli(["destinations", "delete", id])).stdout).toBe(`deleted ${id}\n`);
    const json = JSON.parse((await cli(["--json", "destinations"])).stdout) as DestinationList;
    expect(json.destinations.map((d) => d.kind)).toEqual(["file"]);
  });

  it("a webhook that fails at first (500s, then a dropped connection) gets every schedule.result and policy.changed exactly once by Idempotency-Key, signed, in order per schedule", async () => {
    const hub = await hubs.start({ args: FAST_RETRY });
    const hook = await receiver([500, 500, 502, "drop"]);
    const dest = (await hub.api.post<DestinationView>("/api/v1/destinations", { kind: "webhook", url: hook.url, secret: SECRET })).body;
    const log = await sse.open(hub.url, "/api/v1/events?after=0", { token: hub.adminToken });
    const agents = [await raw.enrolled(hub, "dst-a", { onQuery: changingAnswers() }), await raw.enrolled(hub, "dst-b", { onQuery: changingAnswers() })];
    const producers = await startProducing(hub.api, agents.map((a) => a.agentId), { schedules: ["processes", "listening_ports"], policy: "sshd running" });
    const of = (events: ReceivedEvent[], scheduleId: string) => events.filter((e) => e.data.scheduleId === scheduleId);
    const changesOf = (agentId: string) => hook.accepted.filter((e) => e.type === "policy.changed" && e.data.agentId === agentId);
    await waitFor("three runs of each schedule and three policy changes on each agent accepted", () => producers.schedules.every((s) => of(hook.accepted, s.id).length >= 6) && agents.every((a) => changesOf(a.agentId).length >= 3), { timeoutMs: 20_000 });
    await stopProducing(hub.api, producers);
    const owed = await everyEventAccepted(log, hook);

    expect(hook.accepted).toEqual(owed);
    expect(hook.duplicates).toBe(0);
    expect(hook.requests.every((r) => r.signed && r.contentType === "application/json" && r.key === `${dest.id}.${r.event.id}`)).toBe(true);
    // The failed attempts were all the first event's, retried under its one key until accepted.
    expect(hook.requests.slice(0, 5).map((r) => [r.key, r.answer])).toEqual([500, 500, 502, "drop", 200].map((answer) => [`${dest.id}.${owed[0]!.id}`, answer]));
    // In order: by seq overall, so per schedule; per schedule and agent, in the order of the runs.
    expect(hook.accepted.map((e) => e.id)).toEqual(owed.map((e) => e.id).sort((a, b) => a - b));
    expect(inOrderPer(hook.accepted, "scheduleId")).toBe(true);
    expect(runsInOrder(hook.accepted)).toBe(true);
    for (const s of producers.schedules) {
      const results = of(hook.accepted, s.id);
      for (const { agentId } of agents) {
        const runs = results.filter((e) => e.data.agentId === agentId);
        // The first run a snapshot, each later one exactly the row that changed.
        expect(runs[0]!.data).toMatchObject({ scheduleName: s.name, mode: "differential", status: "ok", snapshot: true, removed: [] });
        for (const run of runs.slice(1)) expect([run.data.snapshot, (run.data.added as unknown[]).length, (run.data.removed as unknown[]).length]).toEqual([false, 1, 1]);
      }
    }
    for (const { agentId } of agents) {
      expect(changesOf(agentId).slice(0, 3).map((e) => [e.data.from, e.data.to])).toEqual([
        [null, "pass"],
        ["pass", "fail"],
        ["fail", "pass"],
      ]);
    }

    await waitFor("the destination caught up", async () => (await destinationOf(hub, dest.id)).deliveredSeq === owed.at(-1)!.id);
    expect((await destinationOf(hub, dest.id)).lastError).toBeNull();
    expect(await hub.api.metric("uplink_destination_deliveries_total", { kind: "webhook" })).toBe(owed.length);
    expect(await hub.api.metric("uplink_destination_failures_total", { kind: "webhook" })).toBe(4);
    expect(await hub.api.metric("uplink_destination_backlog", { kind: "webhook" })).toBe(0);
  });

  it("a file destination gets the schedule's results as NDJSON lines, rotated by size, keeping the newest files", async () => {
    const hub = await hubs.start({ args: ["--destination-file-max-bytes", "1024", "--destination-file-keep", "2"] });
    const dir = await hubs.tempDir();
    const path = join(dir, "uplink.ndjson");
    const dest = (await hub.api.post<DestinationView>("/api/v1/destinations", { kind: "file", path })).body;
    const log = await sse.open(hub.url, "/api/v1/events?after=0", { token: hub.adminToken });
    const agents = [await raw.enrolled(hub, "file-a", { onQuery: changingAnswers() }), await raw.enrolled(hub, "file-b", { onQuery: changingAnswers() })];
    const producers = await startProducing(hub.api, agents.map((a) => a.agentId), { schedules: ["processes"] });
    await log.waitForCount(12, "schedule.result", 20_000);
    await stopProducing(hub.api, producers);
    await waitFor("every result on disk", async () => (await destinationOf(hub, dest.id)).deliveredSeq >= owedEvents(log)[11]!.id);

    expect((await readdir(dir)).sort()).toEqual(["uplink.ndjson", "uplink.ndjson.1", "uplink.ndjson.2"]);
    const read = async (name: string) => {
      const text = await readFile(join(dir, name), "utf8");
      expect(text.length).toBeLessThanOrEqual(1024);
      expect(text.endsWith("\n")).toBe(true);
      return text.trimEnd().split("\n").map((line) => JSON.parse(line) as ReceivedEvent);
    };
    const kept = [...(await read("uplink.ndjson.2")), ...(await read("uplink.ndjson.1")), ...(await read("uplink.ndjson"))];
    // The newest results, consecutive in the log and in order: the oldest went with the oldest rotated file.
    const owed = owedEvents(log).filter((e) => e.id <= kept.at(-1)!.id);
    expect(kept.length).toBeGreaterThanOrEqual(3);
    expect(kept.length).toBeLessThan(owed.length);
    expect(kept).toEqual(owed.slice(-kept.length));
    expect(kept.every((l) => l.type === "schedule.result" && l.data.scheduleId === producers.schedules[0]!.id)).toBe(true);
  });

  it("resumes after a restart from its cursor: the results owed when the hub stopped arrive, then the new ones, nothing lost", async () => {
    const dataDir = await hubs.tempDir();
    let hub = await hubs.start({ dataDir, args: FAST_RETRY });
    const hook = await receiver(Array.from({ length: 10_000 }, () => 503));
    const dest = (await hub.api.post<DestinationView>("/api/v1/destinations", { kind: "webhook", url: hook.url, secret: SECRET })).body;
    const answers = changingAnswers();
    const { agentId, agentKey } = await raw.enrolled(hub, "resume-a", { onQuery: answers });
    const producers = await startProducing(hub.api, [agentId], { schedules: ["processes"] });
    let log = await sse.open(hub.url, "/api/v1/events?after=0", { token: hub.adminToken });
    await waitFor("a failed attempt recorded", async () => (await destinationOf(hub, dest.id)).lastError === "answered 503");
    await log.waitForCount(3, "schedule.result");
    expect((await hubs.stop(hub)).code).toBe(0);
    // What the hub owed when it stopped: every result it stored (the receiver accepted none).
    const owedAtStop = owedEvents(log);
    expect(hook.accepted).toEqual([]);

    hook.script = [];
    hub = await hubs.start({ dataDir, args: FAST_RETRY });
    await raw.connect(hub.agentUrl, { hostname: "resume-a", agentKey, onQuery: answers });
    log = await sse.open(hub.url, "/api/v1/events?after=0", { token: hub.adminToken });
    await waitFor("new results after the restart accepted", () => hook.accepted.filter((e) => e.id > owedAtStop.at(-1)!.id).length >= 2, { timeoutMs: 20_000 });
    await stopProducing(hub.api, producers);
    const owed = await everyEventAccepted(log, hook);
    expect(hook.accepted).toEqual(owed);
    expect(hook.accepted.slice(0, owedAtStop.length)).toEqual(owedAtStop);
    expect(runsInOrder(hook.accepted)).toBe(true);
    expect(hook.duplicates).toBe(0);
    expect((await hub.api.get<DestinationList>("/api/v1/destinations")).body.destinations.map((d) => d.id)).toEqual([dest.id]);
  });

  it("a webhook at the hub itself, at a closed port or at a server that never answers fails with its reason and is retried, within the timeout, the hub unharmed", async () => {
    const hub = await hubs.start({ args: ["--destination-timeout", "1s", "--destination-retry-min", "100ms", "--destination-retry-max", "500ms"] });
    // A server that accepts connections and never answers.
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const silentUrl = `http://127.0.0.1:${(silent.address() as { port: number }).port}/hook`;
    try {
      const create = async (url: string) => (await hub.api.post<DestinationView>("/api/v1/destinations", { kind: "webhook", url, secret: SECRET })).body.id;
      const itself = await create(`${hub.url}/api/v1/destinations`);
      // A port nothing listens on: one taken, then let go.
      const gone = createServer();
      await new Promise<void>((resolve) => gone.listen(0, "127.0.0.1", resolve));
      const gonePort = (gone.address() as { port: number }).port;
      await new Promise<void>((resolve) => gone.close(() => resolve()));
      const closed = await create(`http://127.0.0.1:${gonePort}/hook`);
      const mute = await create(silentUrl);
      const { agentId } = await raw.enrolled(hub, "nowhere-a", { onQuery: changingAnswers() });
      await startProducing(hub.api, [agentId], { schedules: ["processes"] });
      const errors = await waitFor("each failing", async () => {
        const errors = await Promise.all([itself, closed, mute].map(async (id) => (await destinationOf(hub, id)).lastError));
        return errors.every((e) => e !== null) && errors;
      });
      expect(errors).toEqual(["answered 401", expect.stringMatching(/^request failed: ECONNREFUSED/), "no answer within 1000 ms"]);
      // Retried: the silent server is asked again after each timeout.
      await waitFor("the silent server asked again", () => sockets.size >= 2, { timeoutMs: 10_000 });
      await waitFor("failures counted", async () => (await hub.api.metric("uplink_destination_failures_total", { kind: "webhook" })) >= 6);
      expect((await hub.api.get("/api/v1/agents")).status).toBe(200);
      expect(await hub.api.metric("uplink_destination_backlog", { kind: "webhook" })).toBeGreaterThan(0);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });
});
