import { statSync } from "node:fs";
import { request, type ClientRequest } from "node:http";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { useHubs, useSharedHub, type HubProcess } from "./fixtures/hub-process.js";
import { uplinkHub } from "./fixtures/process.js";
import { healthResult, useRawAgents, type RawAgent } from "./fixtures/raw-agent.js";
import { waitFor } from "./fixtures/wait.js";
import type { AgentList } from "../packages/protocol/dist/index.js";

/** Starts `POST /api/v1/agents/:id/query` over a connection of its own, so the test can drop it. */
function abandonableQuery(hub: HubProcess, agentId: string, body: Record<string, unknown>): ClientRequest {
  const text = JSON.stringify(body);
  const req = request(`${hub.url}/api/v1/agents/${agentId}/query`, {
    method: "POST",
    agent: false,
    headers: { authorization: `Bearer ${hub.adminToken}`, "content-type": "application/json", "content-length": Buffer.byteLength(text) },
  });
  req.on("error", () => {}); // destroyed on purpose
  req.end(text);
  return req;
}

/** A hello as a (hostile) agent chooses to send it. */
function hello(agent: RawAgent, over: Record<string, unknown> = {}): void {
  agent.send({ type: "hello", protocol: 2, agentVersion: "raw-agent/1.0", hostname: "raw-host", platform: "linux", arch: "x64", labels: {}, capabilities: ["correlation-id"], ...over });
}

describe("Hub hardening: what a caller or a host asserts is bounded", () => {
  const shared = useSharedHub({ logLevel: "debug", args: ["--enroll-rate", "1000"] });
  const hubs = useHubs();
  const rawAgents = useRawAgents();

  describe("a caller that disconnects", () => {
    it("cancels its command: the agent gets `cancel`, the audit says cancelled, the metric counts it", async () => {
      const hub = shared();
      const { agent, agentId } = await rawAgents.enrolled(hub, "abandoned-host");
      const cancelledBefore = await hub.api.metric("uplink_commands_completed_total", { kind: "query", outcome: "cancelled" });
      // A deadline far beyond the waits below: only the disconnect can end this command in time.
      const req = abandonableQuery(hub, agentId, { query: "select 'abandoned'", timeoutMs: 50_000 });
      const command = await agent.waitForQuery("select 'abandoned'");
      req.destroy();
      const cancel = await agent.waitForFrame("cancel", (f) => f.type === "cancel" && f.correlationId === command.correlationId, 10_000);
      expect(cancel).toEqual({ type: "cancel", correlationId: command.correlationId });
      await waitFor("audit row cancelled", async () => (await hub.api.auditRow(command.correlationId!))?.status === "cancelled");
      expect(await hub.api.auditRow(command.correlationId!)).toMatchObject({ status: "cancelled", error: { code: "cancelled" } });
      expect(await hub.api.metric("uplink_commands_completed_total", { kind: "query", outcome: "cancelled" })).toBe(cancelledBefore + 1);
      // The agent's answer, now late, is an orphan; the next caller is served as usual.
      agent.respond(command);
      agent.onQuery = (c, a) => a.respond(c);
      const next = await hub.api.query(agentId, { query: "select 'after'" });
      expect(next.status).toBe(200);
      expect(next.body.result.rows[0]![0]).toBe("select 'after'");
    });

    it("that stays connected is answered as before (no cancel is sent)", async () => {
      const hub = shared();
      const { agent, agentId } = await rawAgents.enrolled(hub, "patient-host", { onQuery: (c, a) => a.later(200, () => a.respond(c)) });
      const res = await hub.api.query(agentId, { query: "select 'patient'", timeoutMs: 5_000 });
      expect(res.status).toBe(200);
      expect(agent.cancels).toEqual([]);
      expect((await hub.api.auditRow(res.correlationId!))?.status).toBe("ok");
    });
  });

  describe("deadlines", () => {
    it("refuses a timeoutMs above the hub's maximum (default 60 s) with 400 naming the limit, single and fan-out", async () => {
      const hub = shared();
      const { agentId } = await rawAgents.enrolled(hub, "deadline-host");
      const single = await hub.api.query(agentId, { query: "select 1", timeoutMs: 60_001 });
      expect(single.status).toBe(400);
      expect(single.body.error).toMatchObject({ code: "invalid_request" });
      expect(single.body.error.message).toContain("maximum of 60000 ms");
      expect(single.body.error.message).toContain("--max-query-timeout");
      const fanout = await hub.api.post("/api/v1/queries", { query: "select 1", targets: { agentIds: [agentId] }, timeoutMs: 600_000 });
      expect(fanout.status).toBe(400);
      expect(fanout.body.error.message).toContain("maximum of 60000 ms");
    });

    it("takes the maximum from --max-query-timeout, and refuses to start with a default deadline above it", async () => {
      const hub = await hubs.start({ queryTimeout: "1s", args: ["--max-query-timeout", "2s"] });
      const { agentId } = await rawAgents.enrolled(hub, "capped-host", { onQuery: (c, a) => a.respond(c) });
      expect((await hub.api.query(agentId, { query: "select 1", timeoutMs: 2_000 })).status).toBe(200);
      const over = await hub.api.query(agentId, { query: "select 1", timeoutMs: 2_001 });
      expect(over.status).toBe(400);
      expect(over.body.error.message).toContain("maximum of 2000 ms");
      const dir = await hubs.tempDir();
      const bad = await uplinkHub(["serve", "--host", "127.0.0.1", "--port", "0", "--metrics-port", "off", "--data-dir", dir, "--query-timeout", "90s"], { timeoutMs: 10_000 });
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain("--query-timeout / UPLINK_QUERY_TIMEOUT: must not exceed --max-query-timeout");
    });
  });

  describe("labels belong to the operator", () => {
    it("keeps hello labels apart as reportedLabels: a second hello relabels nothing, and targeting never reads them", async () => {
      const hub = shared();
      const { agentId, agentKey } = await hub.api.enroll("relabel-host", { env: "staging" });
      const agent = await rawAgents.connect(hub.agentUrl, { agentKey, hello: false, onQuery: (c, a) => a.respond(c) });
      hello(agent, { labels: { env: "staging" } });
      await waitFor("online", async () => (await hub.api.agent(agentId)).body.status === "online");
      hello(agent, { labels: { env: "prod", tenant: "other" } });
      await waitFor("reported labels recorded", async () => (await hub.api.agent(agentId)).body.reportedLabels?.env === "prod");
      expect((await hub.api.agent(agentId)).body).toMatchObject({ labels: { env: "staging" }, reportedLabels: { env: "prod", tenant: "other" } });
      const listed = await hub.api.get("/api/v1/agents?label=env=prod");
      expect(listed.body.agents.map((a: { id: string }) => a.id)).not.toContain(agentId);
      const fanout = await hub.api.post("/api/v1/queries", { query: "select 'prod only'", targets: { labels: { env: "prod", tenant: "other" } } });
      expect(fanout.status).toBe(202);
      expect(fanout.body.targetCount).toBe(0);
      expect(agent.queries).toEqual([]);
    });

    it("changes labels through PATCH /api/v1/agents/:id (admin only), and targeting follows them", async () => {
      const hub = shared();
      const { agent, agentId } = await rawAgents.enrolled(hub, "patched-host", { onQuery: (c, a) => a.respond(c) });
      const queryToken = await hub.api.createToken("api", "query");
      expect((await hub.api.request("PATCH", `/api/v1/agents/${agentId}`, { json: { labels: { env: "x" } }, token: queryToken })).status).toBe(403);
      expect((await hub.api.request("PATCH", "/api/v1/agents/agt_missing", { json: { labels: {} } })).status).toBe(404);
      const bad = await hub.api.request("PATCH", `/api/v1/agents/${agentId}`, { json: { labels: { env: 5 } } });
      expect(bad.status).toBe(400);
      expect((await hub.api.request("PATCH", `/api/v1/agents/${agentId}`, { json: { labels: {}, hostname: "spoof" } })).status).toBe(400);
      const patched = await hub.api.request("PATCH", `/api/v1/agents/${agentId}`, { json: { labels: { role: "patched-web", env: "prod" } } });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({ id: agentId, labels: { role: "patched-web", env: "prod" }, status: "online" });
      const listed = await hub.api.get("/api/v1/agents?label=role=patched-web");
      expect(listed.body.agents.map((a: { id: string }) => a.id)).toEqual([agentId]);
      const fanout = await hub.api.post("/api/v1/queries", { query: "select 'to patched'", targets: { labels: { role: "patched-web" } } });
      expect(fanout.body.targetCount).toBe(1);
      await agent.waitForQuery("select 'to patched'");
      // A later hello does not undo the operator's labels.
      hello(agent, { labels: { role: "db" } });
      await waitFor("reported", async () => (await hub.api.agent(agentId)).body.reportedLabels?.role === "db");
      expect((await hub.api.agent(agentId)).body.labels).toEqual({ role: "patched-web", env: "prod" });
    });

    it("gives an agent the labels of its enroll token, keeping the host's own as reported (REST and CLI tokens)", async () => {
      const hub = shared();
      const created = await hub.api.post("/api/v1/tokens", { kind: "enroll", name: "pinned", labels: { env: "pinned-prod" } });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ labels: { env: "pinned-prod" }, maxUses: null, uses: 0 });
      const enrolled = await hub.api.post("/api/v1/enroll", { token: created.body.token, hostname: "pinned-host", labels: { env: "dev", extra: "1" } }, { token: null });
      expect(enrolled.status).toBe(201);
      expect((await hub.api.agent(enrolled.body.agentId)).body).toMatchObject({ labels: { env: "pinned-prod" }, reportedLabels: { env: "dev", extra: "1" } });
      expect((await hub.api.post("/api/v1/tokens", { kind: "api", scope: "read", name: "x", labels: { a: "b" } })).status).toBe(400);

      const cli = await uplinkHub(["token", "create", "--kind", "enroll", "--name", "cli-pinned", "--label", "env=cli", "--label", "team=db", "--max-uses", "3", "--data-dir", hub.dataDir, "--json"]);
      expect(cli.code, cli.stderr).toBe(0);
      const cliToken = JSON.parse(cli.stdout) as { token: string; labels: unknown; maxUses: number };
      expect(cliToken).toMatchObject({ labels: { env: "cli", team: "db" }, maxUses: 3 });
      const viaCli = await hub.api.post("/api/v1/enroll", { token: cliToken.token, hostname: "cli-pinned-host" }, { token: null });
      expect((await hub.api.agent(viaCli.body.agentId)).body.labels).toEqual({ env: "cli", team: "db" });
    });
  });

  describe("hello and health are bounded", () => {
    it("refuses a 9 MB health reply (violation, poll failed, agent unresponsive): never stored, never served", async () => {
      const hub = shared();
      const { agent, agentId } = await rawAgents.enrolled(hub, "bloated-host", { autoHealth: false });
      const violationsBefore = await hub.api.metric("uplink_frame_violations_total");
      const answered = new Set<string>();
      const answerPolls = (result: (n: number) => unknown) => {
        for (const poll of agent.healthPolls) {
          if (answered.has(poll.correlationId!)) continue;
          answered.add(poll.correlationId!);
          agent.respond(poll, { ok: true, result: result(answered.size) });
        }
      };
      const bloated = (n: number) => (n % 2 === 0 ? { ...healthResult(), padding: "x".repeat(9 * 1024 * 1024) } : { ...healthResult(), collectors: ["y".repeat(9 * 1024 * 1024)] });
      await agent.waitUntil("2 health polls", () => (agent.healthPolls.length >= 1 ? true : undefined));
      answerPolls(bloated);
      await agent.waitUntil("2 health polls", () => (agent.healthPolls.length >= 2 ? true : undefined));
      answerPolls(bloated);
      await waitFor("both counted as violations", async () => (await hub.api.metric("uplink_frame_violations_total")) >= violationsBefore + 2);
      const view = await hub.api.agent(agentId);
      expect(view.body).toMatchObject({ status: "unresponsive", lastHealth: null });
      expect(view.text.length).toBeLessThan(8 * 1024);
      expect((await hub.api.get("/api/v1/agents")).text.length).toBeLessThan(1024 * 1024);
      await waitFor("both refusals logged", async () => hub.logsMatching({ msg: "invalid health result refused" }).length >= 2);
      // A sane reply brings it back; numbers out of range do not.
      await agent.waitUntil("3 health polls", () => (agent.healthPolls.length >= 3 ? true : undefined));
      answerPolls(() => ({ ...healthResult(), load1: -1, inflight: 1e12 }));
      await agent.waitUntil("4 health polls", () => (agent.healthPolls.length >= 4 ? true : undefined));
      expect((await hub.api.agent(agentId)).body.lastHealth).toBeNull();
      answerPolls(() => healthResult());
      await waitFor("online with health", async () => (await hub.api.agent(agentId)).body.status === "online");
      expect((await hub.api.agent(agentId)).body.lastHealth).toEqual(healthResult());
    });

    it("refuses a hello with unbounded fields as a violation and keeps the agent's record as it was", async () => {
      const hub = shared();
      const { agentId, agentKey } = await hub.api.enroll("bounded-hello-host");
      const agent = await rawAgents.connect(hub.agentUrl, { agentKey, hello: false });
      await waitFor("online", async () => (await hub.api.agent(agentId)).body.status === "online");
      const violationsBefore = await hub.api.metric("uplink_frame_violations_total");
      hello(agent, { hostname: "h".repeat(300) });
      hello(agent, { agentVersion: "v".repeat(65) });
      hello(agent, { protocol: 1e9 });
      hello(agent, { labels: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"])) });
      hello(agent, { labels: { ["k".repeat(129)]: "v" } });
      await waitFor("5 violations", async () => (await hub.api.metric("uplink_frame_violations_total")) === violationsBefore + 5);
      expect((await hub.api.agent(agentId)).body).toMatchObject({ hostname: "bounded-hello-host", agentVersion: null, reportedLabels: {} });
    });
  });

  describe("enrollment tokens", () => {
    it("expire by default (24 h) and count uses: the one past maxUses is 401 'used up'", async () => {
      const hub = shared();
      const before = Date.now();
      const created = await hub.api.post("/api/v1/tokens", { kind: "enroll", name: "twice", maxUses: 2 });
      expect(created.body.expiresAt).toBeGreaterThanOrEqual(before + 24 * 3600_000 - 1000);
      expect(created.body.expiresAt).toBeLessThanOrEqual(Date.now() + 24 * 3600_000 + 1000);
      const enroll = (hostname: string) => hub.api.post("/api/v1/enroll", { token: created.body.token, hostname }, { token: null });
      expect((await enroll("use-1")).status).toBe(201);
      expect((await enroll("use-2")).status).toBe(201);
      const third = await enroll("use-3");
      expect(third.status).toBe(401);
      expect(third.body.error).toEqual({ code: "unauthorized", message: `enrollment token ${created.body.id} is used up (2 of 2 uses)` });
      const listed = await hub.api.get("/api/v1/tokens");
      expect(listed.body.tokens.find((t: { id: string }) => t.id === created.body.id)).toMatchObject({ uses: 2, maxUses: 2 });
      // The CLI applies the same default lifetime.
      const cli = await uplinkHub(["token", "create", "--kind", "enroll", "--name", "cli-default", "--data-dir", hub.dataDir, "--json"]);
      const cliToken = JSON.parse(cli.stdout) as { expiresAt: number };
      expect(cliToken.expiresAt).toBeGreaterThanOrEqual(before + 24 * 3600_000 - 1000);
    });

    it("take their defaults from --enroll-token-ttl and --enroll-token-uses; an expired one is 401 'expired'", async () => {
      const hub = await hubs.start({ args: ["--enroll-token-ttl", "2s", "--enroll-token-uses", "1"] });
      const created = await hub.api.post("/api/v1/tokens", { kind: "enroll", name: "short" });
      expect(created.body).toMatchObject({ maxUses: 1 });
      expect(created.body.expiresAt - created.body.createdAt).toBe(2000);
      const enroll = (token: string, hostname: string) => hub.api.post("/api/v1/enroll", { token, hostname }, { token: null });
      expect((await enroll(created.body.token, "first")).status).toBe(201);
      expect((await enroll(created.body.token, "second")).body.error.message).toContain("used up (1 of 1 uses)");
      const expiring = await hub.api.post("/api/v1/tokens", { kind: "enroll", name: "expiring", maxUses: 5 });
      await waitFor("the token expired", () => Date.now() > expiring.body.expiresAt);
      const late = await enroll(expiring.body.token, "late");
      expect(late.status).toBe(401);
      expect(late.body.error.message).toBe(`enrollment token ${expiring.body.id} expired at ${new Date(expiring.body.expiresAt).toISOString()}`);
      // A wrong secret learns nothing about the token.
      const wrong = await enroll(`${expiring.body.id}.not-the-secret`, "guess");
      expect(wrong.body.error).toEqual({ code: "unauthorized", message: "invalid enrollment token" });
    });
  });

  describe("the store's files and /metrics are private", () => {
    it("keeps uplink.db, its WAL and SHM 0600 in a 0700 data directory the hub created", async () => {
      const dataDir = join(await hubs.tempDir(), "fresh", "data");
      const hub = await hubs.start({ dataDir });
      await rawAgents.enrolled(hub, "perm-host");
      const mode = (path: string) => statSync(path).mode & 0o777;
      expect(mode(dataDir)).toBe(0o700);
      for (const file of ["uplink.db", "uplink.db-wal", "uplink.db-shm"]) expect([file, mode(join(dataDir, file))]).toEqual([file, 0o600]);
    });

    it("serves /metrics on its own loopback listener, not on the API port; --metrics-port off serves none", async () => {
      const hub = shared();
      const onApiPort = await hub.api.get("/metrics", { token: null });
      expect(onApiPort.status).toBe(404);
      const scrape = await hub.api.scrape();
      expect(scrape.status).toBe(200);
      expect(scrape.text).toMatch(/^# TYPE uplink_agents_connected gauge$/m);
      expect(hub.logsMatching("hub listening")[0]).toMatchObject({ metricsHost: "127.0.0.1" });
      expect((await fetch(`${hub.metricsUrl}/api/v1/agents`)).status).toBe(404);

      const dark = await hubs.start({ args: ["--metrics-port", "off"] });
      expect(dark.metricsUrl).toBeNull();
      expect((await dark.api.get("/metrics", { token: null })).status).toBe(404);
    });

    it("stops start-up with exit 2 naming --metrics-port when its port is taken", async () => {
      const taken = createServer();
      await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
      try {
        const port = (taken.address() as AddressInfo).port;
        const run = await uplinkHub(["serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", await hubs.tempDir(), "--metrics-port", String(port)], { timeoutMs: 10_000 });
        expect(run.code).toBe(2);
        expect(run.stderr).toContain(`invalid --metrics-port / UPLINK_METRICS_PORT: cannot listen on 127.0.0.1:${port} (EADDRINUSE)`);
      } finally {
        await new Promise((resolve) => taken.close(resolve));
      }
    });
  });

  describe("filters and session ids", () => {
    it("matches nobody with conflicting label filters", async () => {
      const hub = shared();
      const a = await hub.api.enroll("conflict-a", { conflict: "a" });
      const b = await hub.api.enroll("conflict-b", { conflict: "b" });
      const ids = async (qs: string) => (((await hub.api.get(`/api/v1/agents?${qs}`)).body as AgentList).agents).map((x) => x.id);
      expect(await ids("label=conflict=a")).toEqual([a.agentId]);
      expect(await ids("label=conflict=b")).toEqual([b.agentId]);
      expect(await ids("label=conflict=a&label=conflict=b")).toEqual([]);
      expect(await ids("label=conflict=b&label=conflict=a")).toEqual([]);
      expect(await ids("label=conflict=b&label=conflict=b")).toEqual([b.agentId]);
    });

    it("refuses the hub's reserved session ids for operator queries (400), before anything is sent", async () => {
      const hub = shared();
      const { agent, agentId } = await rawAgents.enrolled(hub, "session-host", { onQuery: (c, a) => a.respond(c) });
      for (const sessionId of ["uplink-health", "uplink-anything", "fan_0123456789abcdef"]) {
        const res = await hub.api.query(agentId, { query: "select 1", sessionId });
        expect([sessionId, res.status]).toEqual([sessionId, 400]);
        expect(res.body.error.message).toContain("reserved for the hub");
      }
      expect(agent.queries).toEqual([]);
      expect((await hub.api.query(agentId, { query: "select 1", sessionId: "my-uplink-session" })).status).toBe(200);
    });
  });
});
