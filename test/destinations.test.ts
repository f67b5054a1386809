import { randomUUID } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { WebhookReceiver } from "../packages/hub/test/webhook-receiver.js";
import { useHubs, type HubProcess } from "./fixtures/hub-process.js";
import { uplink } from "./fixtures/process.js";
import { waitFor } from "./fixtures/wait.js";
import type { DestinationList, DestinationView } from "../packages/protocol/dist/index.js";

const SECRET = "e2e-webhook-secret-0123456789";

/**
 * Nothing on this branch emits schedule.result or policy.changed yet, so these hubs deliver `query.done`
 * (the test-only UPLINK_TEST_DESTINATION_EVENTS): the delivery path is the product's, the event type a stand-in.
 */
const TEST_EVENTS = { UPLINK_TEST_DESTINATION_EVENTS: "query.done" };
const FAST_RETRY = ["--destination-retry-min", "100ms", "--destination-retry-max", "1s"];

/** A fan-out that targets no agent: it finishes at once with one `query.done`. Resolves its id. */
async function emitQueryDone(hub: HubProcess): Promise<string> {
  const res = await hub.api.post("/api/v1/queries", { query: "select 1", targets: { labels: { destinations: "none" } } });
  expect(res.status).toBe(202);
  return res.body.id as string;
}

describe("Destinations", () => {
  const hubs = useHubs();
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

  it("a webhook that fails at first (500s, then a dropped connection) gets every event exactly once by Idempotency-Key, in order, signed", async () => {
    const hub = await hubs.start({ env: TEST_EVENTS, args: FAST_RETRY });
    const hook = await receiver([500, 500, 502, "drop"]);
    const dest = (await hub.api.post<DestinationView>("/api/v1/destinations", { kind: "webhook", url: hook.url, secret: SECRET })).body;
    const fanouts: string[] = [];
    for (let i = 0; i < 8; i++) fanouts.push(await emitQueryDone(hub));
    await waitFor("every event accepted", () => hook.accepted.length >= fanouts.length, { timeoutMs: 20_000 });

    expect(new Set(hook.accepted.map((e) => e.data.fanoutId))).toEqual(new Set(fanouts));
    expect(hook.accepted).toHaveLength(fanouts.length);
    expect(hook.accepted.every((e) => e.type === "query.done")).toBe(true);
    const ids = hook.accepted.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(hook.requests.every((r) => r.signed && r.contentType === "application/json")).toBe(true);
    expect(hook.requests.every((r) => r.key === `${dest.id}.${r.event.id}`)).toBe(true);
    // The failed attempts were all the first event's, retried under its one key until accepted.
    expect(hook.requests.slice(0, 5).map((r) => [r.event.id, r.answer])).toEqual([ids[0], ids[0], ids[0], ids[0], ids[0]].map((id, i) => [id, [500, 500, 502, "drop", 200][i]]));

    await waitFor("the destination caught up", async () => (await hub.api.get<DestinationView>(`/api/v1/destinations/${dest.id}`)).body.deliveredSeq === ids.at(-1));
    expect((await hub.api.get<DestinationView>(`/api/v1/destinations/${dest.id}`)).body.lastError).toBeNull();
    expect(await hub.api.metric("uplink_destination_deliveries_total", { kind: "webhook" })).toBe(hook.requests.filter((r) => r.answer === 200).length);
    expect(await hub.api.metric("uplink_destination_failures_total", { kind: "webhook" })).toBe(4);
    expect(await hub.api.metric("uplink_destination_backlog", { kind: "webhook" })).toBe(0);
  });

  it("a file destination gets NDJSON lines, rotated by size, keeping the newest files", async () => {
    const hub = await hubs.start({ env: TEST_EVENTS, args: ["--destination-file-max-bytes", "2048", "--destination-file-keep", "2"] });
    const dir = await hubs.tempDir();
    const path = join(dir, "uplink.ndjson");
    const dest = (await hub.api.post<DestinationView>("/api/v1/destinations", { kind: "file", path })).body;
    const fanouts: string[] = [];
    for (let i = 0; i < 40; i++) fanouts.push(await emitQueryDone(hub));
    await waitFor("every event on disk", async () => (await hub.api.metric("uplink_destination_deliveries_total", { kind: "file" })) >= fanouts.length, { timeoutMs: 20_000 });
    await waitFor("the cursor past them", async () => (await hub.api.metric("uplink_destination_backlog", { kind: "file" })) === 0);

    expect((await readdir(dir)).sort()).toEqual(["uplink.ndjson", "uplink.ndjson.1", "uplink.ndjson.2"]);
    const read = async (name: string) => {
      const text = await readFile(join(dir, name), "utf8");
      expect(text.length).toBeLessThanOrEqual(2048);
      expect(text.endsWith("\n")).toBe(true);
      return text.trimEnd().split("\n").map((line) => JSON.parse(line) as { id: number; type: string; data: { fanoutId: string } });
    };
    const kept = [...(await read("uplink.ndjson.2")), ...(await read("uplink.ndjson.1")), ...(await read("uplink.ndjson"))];
    // The newest events, consecutive and in order (this hub's log holds only these events): the oldest went
    // with the oldest rotated file.
    const last = (await hub.api.get<DestinationView>(`/api/v1/destinations/${dest.id}`)).body.deliveredSeq;
    expect(kept.length).toBeGreaterThan(10);
    expect(kept.length).toBeLessThan(fanouts.length);
    expect(kept.map((l) => l.id)).toEqual(Array.from({ length: kept.length }, (_, i) => last - kept.length + 1 + i));
    expect(new Set(kept.map((l) => l.data.fanoutId)).size).toBe(kept.length);
    expect(kept.every((l) => l.type === "query.done" && fanouts.includes(l.data.fanoutId))).toBe(true);
  });

  it("resumes after a restart from its cursor: what was owed when the hub stopped arrives, nothing is lost", async () => {
    const dataDir = await hubs.tempDir();
    let hub = await hubs.start({ dataDir, env: TEST_EVENTS, args: FAST_RETRY });
    const hook = await receiver(Array.from({ length: 10_000 }, () => 503));
    const dest = (await hub.api.post<DestinationView>("/api/v1/destinations", { kind: "webhook", url: hook.url, secret: SECRET })).body;
    const fanouts: string[] = [];
    for (let i = 0; i < 5; i++) fanouts.push(await emitQueryDone(hub));
    await waitFor("a failed attempt recorded", async () => (await hub.api.get<DestinationView>(`/api/v1/destinations/${dest.id}`)).body.lastError === "answered 503");
    await waitFor("all five owed", async () => (await hub.api.metric("uplink_destination_backlog", { kind: "webhook" })) === 5);
    expect((await hubs.stop(hub)).code).toBe(0);

    hook.script = [];
    hub = await hubs.start({ dataDir, env: TEST_EVENTS, args: FAST_RETRY });
    for (let i = 0; i < 3; i++) fanouts.push(await emitQueryDone(hub));
    await waitFor("every event accepted", () => hook.accepted.length >= fanouts.length, { timeoutMs: 20_000 });
    expect(hook.accepted.map((e) => e.data.fanoutId).sort()).toEqual([...fanouts].sort());
    const ids = hook.accepted.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(hook.accepted.slice(0, 5).map((e) => e.data.fanoutId).sort()).toEqual(fanouts.slice(0, 5).sort());
    const listed = (await hub.api.get<DestinationList>("/api/v1/destinations")).body.destinations;
    expect(listed.map((d) => d.id)).toEqual([dest.id]);
  });
});
