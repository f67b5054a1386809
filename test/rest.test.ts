import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { UUID_V4, type AgentView } from "./fixtures/http.js";
import { useHubs, useSharedHub } from "./fixtures/hub-process.js";
import { REPO_ROOT } from "./fixtures/process.js";
import { useRawAgents, type HubCommand, type RawAgent } from "./fixtures/raw-agent.js";
import { waitFor } from "./fixtures/wait.js";
import type { EnrollResponse, TokenCreated, TokenList } from "../packages/protocol/dist/index.js";

/** better-sqlite3 as the hub package has it (the test workspace does not depend on it itself). */
const Database = createRequire(join(REPO_ROOT, "packages/hub/package.json"))("better-sqlite3") as new (path: string, opts: { readonly: boolean; fileMustExist: boolean }) => {
  prepare(sql: string): { get(...args: unknown[]): unknown };
  close(): void;
};

/** The agent's presence columns as the hub's SQLite file holds them. */
function storedPresence(dataDir: string, agentId: string): unknown {
  const db = new Database(join(dataDir, "uplink.db"), { readonly: true, fileMustExist: true });
  try {
    return db.prepare("SELECT status, last_seen_at AS lastSeenAt, last_health IS NOT NULL AS hasHealth FROM agents WHERE id = ?").get(agentId);
  } finally {
    db.close();
  }
}

describe("REST API v1", () => {
  const shared = useSharedHub({ healthInterval: "200ms" });
  const rawAgents = useRawAgents();
  const hubs = useHubs();

  describe("authentication and scopes", () => {
    it("answers 401 unauthorized without a token, with an unknown one and with a malformed one", async () => {
      const api = shared().api;
      for (const token of [null, "tok_0000.nope", "garbage", `${randomUUID()}.${randomUUID()}`]) {
        const res = await api.get("/api/v1/agents", { token });
        expect(res.status, `token ${token}`).toBe(401);
        expect(res.body.error.code).toBe("unauthorized");
      }
      const basic = await api.get("/api/v1/agents", { token: null, headers: { authorization: "Basic dXNlcjpwYXNz" } });
      expect(basic.status).toBe(401);
    });

    it("answers 403 forbidden when the token's scope is too small, naming the scope needed", async () => {
      const hub = shared();
      const read = hub.api.as(await hub.api.createToken("api", "read", "reader"));
      const query = hub.api.as(await hub.api.createToken("api", "query", "querier"));
      const { agentId } = await hub.api.enroll("scoped");

      expect((await read.get("/api/v1/agents")).status).toBe(200);
      const denied = await read.query(agentId, { query: "select 1" });
      expect(denied.status).toBe(403);
      expect(denied.body.error.code).toBe("forbidden");
      expect(denied.body.error.message).toContain("query");
      const revoke = await query.delete(`/api/v1/agents/${agentId}`);
      expect(revoke.status).toBe(403);
      expect(revoke.body.error.code).toBe("forbidden");
      expect((await query.get("/api/v1/tokens")).status).toBe(403);
      // The query-scope token may query (the agent is merely offline).
      expect((await query.query(agentId, { query: "select 1" })).status).toBe(409);
    });
  });

  describe("request validation", () => {
    it("answers 400 invalid_request naming the problem for bad JSON, a wrong field type and an empty query", async () => {
      const hub = shared();
      const { agentId } = await hub.api.enroll("validation");
      const path = `/api/v1/agents/${agentId}/query`;

      const notJson = await hub.api.request("POST", path, { body: "{ not json", headers: { "content-type": "application/json" } });
      expect(notJson.status).toBe(400);
      expect(notJson.body.error).toEqual({ code: "invalid_request", message: expect.stringContaining("not valid JSON") });

      const wrongType = await hub.api.post(path, { query: 42 });
      expect(wrongType.status).toBe(400);
      expect(wrongType.body.error.code).toBe("invalid_request");
      expect(wrongType.body.error.message).toContain("query");

      const badTimeout = await hub.api.post(path, { query: "select 1", timeoutMs: -5 });
      expect(badTimeout.status).toBe(400);
      expect(badTimeout.body.error.message).toContain("timeoutMs");

      for (const query of ["", "   "]) {
        const empty = await hub.api.post(path, { query });
        expect(empty.status).toBe(400);
        expect(empty.body.error).toEqual({ code: "invalid_request", message: expect.stringContaining("empty") });
      }
    });

    it("answers 413 payload_too_large for a body over 1 MiB and 415 for a body that is not JSON", async () => {
      const hub = shared();
      const { agentId } = await hub.api.enroll("big-body");
      const path = `/api/v1/agents/${agentId}/query`;
      const huge = await hub.api.post(path, { query: `select '${"x".repeat(1024 * 1024)}'` });
      expect(huge.status).toBe(413);
      expect(huge.body.error.code).toBe("payload_too_large");

      const text = await hub.api.request("POST", path, { body: "select 1", headers: { "content-type": "text/plain" } });
      expect(text.status).toBe(415);
      expect(text.body.error.code).toBe("unsupported_media_type");
      // The hub is still fine after refusing the large body.
      expect((await hub.api.get("/healthz")).status).toBe(200);
    });

    it("answers 404 not_found for an unknown route and 405 method_not_allowed (with Allow) for a wrong method", async () => {
      const api = shared().api;
      const unknown = await api.get("/api/v1/nothing-here");
      expect(unknown.status).toBe(404);
      expect(unknown.body.error.code).toBe("not_found");

      const wrong = await api.request("PUT", "/api/v1/agents");
      expect(wrong.status).toBe(405);
      expect(wrong.body.error.code).toBe("method_not_allowed");
      expect(wrong.headers.get("allow")).toBe("GET");

      const wrongToo = await api.request("PATCH", "/api/v1/tokens/tok_123");
      expect(wrongToo.status).toBe(405);
      expect(wrongToo.headers.get("allow")).toBe("DELETE");
    });
  });

  describe("tokens", () => {
    it("shows a new token's secret once, never lists it, and refuses it with 401 once revoked", async () => {
      const hub = shared();
      const created = await hub.api.post("/api/v1/tokens", { kind: "api", scope: "query", name: "ci-pipeline" });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ kind: "api", scope: "query", name: "ci-pipeline", revokedAt: null });
      const { id, token } = created.body as TokenCreated;
      expect(token.startsWith(`${id}.`)).toBe(true);
      const secret = token.slice(id.length + 1);
      expect(secret.length).toBeGreaterThanOrEqual(32);

      const list = await hub.api.get("/api/v1/tokens");
      expect(list.status).toBe(200);
      const listed = (list.body.tokens as Record<string, unknown>[]).find((t) => t.id === id);
      expect(listed).toMatchObject({ id, kind: "api", scope: "query", name: "ci-pipeline" });
      expect(listed).not.toHaveProperty("token");
      expect(listed).not.toHaveProperty("secretHash");
      expect(list.text).not.toContain(secret);

      const ci = hub.api.as(token);
      expect((await ci.get("/api/v1/agents")).status).toBe(200);
      expect((await hub.api.delete(`/api/v1/tokens/${id}`)).status).toBe(204);
      const after = await ci.get("/api/v1/agents");
      expect(after.status).toBe(401);
      expect(after.body.error.code).toBe("unauthorized");
      expect((await hub.api.delete(`/api/v1/tokens/${id}`)).status).toBe(404);
      const relisted = ((await hub.api.get("/api/v1/tokens")).body as TokenList).tokens;
      expect(relisted.find((t) => t.id === id)?.revokedAt).not.toBeNull();

      // Secrets never reach the log.
      const logText = hub.logs.map((l) => JSON.stringify(l)).join("\n");
      expect(logText).not.toContain(secret);
      expect(logText).not.toContain(hub.adminToken.split(".")[1]);
    });

    it("refuses an enrollment token with a scope (400) and an expired one (401)", async () => {
      const api = shared().api;
      const scoped = await api.post("/api/v1/tokens", { kind: "enroll", scope: "admin", name: "nope" });
      expect(scoped.status).toBe(400);
      expect(scoped.body.error.message).toContain("scope");

      const shortLived = await api.post("/api/v1/tokens", { kind: "api", scope: "read", name: "brief", ttlSeconds: 1 });
      expect(shortLived.status).toBe(201);
      expect((await api.as(shortLived.body.token).get("/api/v1/agents")).status).toBe(200);
      await waitFor("the token to expire", async () => (await api.as(shortLived.body.token).get("/api/v1/agents")).status === 401, { timeoutMs: 3_000, intervalMs: 200 });
    });
  });

  describe("enrollment", () => {
    it("gives an agent identity for a live enrollment token and 401 for anything else", async () => {
      const api = shared().api;
      const enrollToken = await api.createToken("enroll");
      const ok = await api.post("/api/v1/enroll", { token: enrollToken, hostname: "new-host", labels: { role: "db" } }, { token: null });
      expect(ok.status).toBe(201);
      const { agentId, agentKey } = ok.body as EnrollResponse;
      expect(agentKey.startsWith(`${agentId}.`)).toBe(true);
      expect((await api.agent(agentId)).body).toMatchObject({ id: agentId, hostname: "new-host", labels: { role: "db" }, status: "offline" });

      const apiToken = await api.createToken("api", "admin");
      for (const token of ["tok_bogus.secret", apiToken, `${enrollToken}x`, "no-dot"]) {
        const bad = await api.post("/api/v1/enroll", { token, hostname: "intruder" }, { token: null });
        expect(bad.status, `enroll with ${token}`).toBe(401);
        expect(bad.body.error.code).toBe("unauthorized");
      }
      const missing = await api.post("/api/v1/enroll", { token: enrollToken }, { token: null });
      expect(missing.status).toBe(400);
      expect(missing.body.error.message).toContain("hostname");
    });
  });

  describe("query history", () => {
    it("lists queries newest first with correlationId, requestId, requester and status, paged by before", async () => {
      const hub = shared();
      const { agentId } = await rawAgents.enrolled(hub, "audited", { onQuery: (c, a) => a.respond(c) });
      const alice = hub.api.as(await hub.api.createToken("api", "query", "alice"));

      const sent: { correlationId: string; requestId: string | null; query: string }[] = [];
      for (let i = 0; i < 5; i++) {
        const requestId = i === 2 ? null : `req-${i}-${randomUUID()}`;
        const query = `select ${i} as step`;
        const res = await alice.query(agentId, { query }, requestId === null ? {} : { headers: { "x-request-id": requestId } });
        expect(res.status).toBe(200);
        expect(res.correlationId).toMatch(UUID_V4);
        sent.push({ correlationId: res.correlationId!, requestId, query });
      }
      const newestFirst = [...sent].reverse();

      const page1 = await hub.api.history({ agentId, limit: 2 });
      expect(page1.queries.map((q) => q.correlationId)).toEqual(newestFirst.slice(0, 2).map((q) => q.correlationId));
      expect(page1.nextBefore).toBe(page1.queries[1]!.seq);
      const page2 = await hub.api.history({ agentId, limit: 2, before: page1.nextBefore! });
      expect(page2.queries.map((q) => q.correlationId)).toEqual(newestFirst.slice(2, 4).map((q) => q.correlationId));
      const page3 = await hub.api.history({ agentId, limit: 2, before: page2.nextBefore! });
      expect(page3.queries.map((q) => q.correlationId)).toEqual(newestFirst.slice(4).map((q) => q.correlationId));
      expect(page3.nextBefore).toBeNull();

      const rows = [...page1.queries, ...page2.queries, ...page3.queries];
      rows.forEach((row, i) => {
        expect(row).toMatchObject({
          correlationId: newestFirst[i]!.correlationId,
          requestId: newestFirst[i]!.requestId,
          query: newestFirst[i]!.query,
          agentId,
          requester: "alice",
          status: "ok",
          collector: "host",
          error: null,
        });
        expect(row.sessionId).toMatch(/^api-/);
        expect(typeof row.durationMs).toBe("number");
        expect(row.result).toMatchObject({ rows: [[newestFirst[i]!.query, row.sessionId, row.correlationId]] });
      });
      // The client's X-Request-Id is logged beside the correlationId.
      const withId = sent[0]!;
      await hub.waitForLog((l) => l.msg === "query answered" && l.correlationId === withId.correlationId && l.requestId === withId.requestId);

      const badLimit = await hub.api.get("/api/v1/queries?limit=0");
      expect(badLimit.status).toBe(400);
      expect(badLimit.body.error.message).toContain("limit");
    });
  });

  describe("history retention", () => {
    it("prunes the oldest audit rows and fan-outs past their count, keeping the recent ones", async () => {
      const hub = await hubs.start({ args: ["--audit-max-rows", "3", "--fanout-max-targets", "2", "--prune-interval", "100ms"] });
      const answer = { onQuery: (c: HubCommand, a: RawAgent) => a.respond(c) };
      const single = await rawAgents.enrolled(hub, "kept-single", answer);
      const target = await rawAgents.enrolled(hub, "kept-target", answer);
      const sent: string[] = [];
      for (let i = 0; i < 6; i++) {
        const res = await hub.api.query(single.agentId, { query: `select ${i}` });
        expect(res.status).toBe(200);
        sent.push(res.correlationId!);
      }
      const fanouts: string[] = [];
      for (let i = 0; i < 3; i++) {
        const res = await hub.api.post("/api/v1/queries", { query: `select ${i}`, targets: { agentIds: [target.agentId] } });
        expect(res.status).toBe(202);
        fanouts.push(res.body.id);
        await waitFor(`fan-out ${i} finished`, async () => (await hub.api.get(`/api/v1/queries/${res.body.id}`)).body.status === "done");
      }
      // The pruner runs on its timer; the counter says when it has caught up.
      await waitFor("the audit pruned to 3 rows", async () => (await hub.api.metric("uplink_pruned_rows_total", { table: "audit" })) === 3);
      await waitFor("the oldest fan-out pruned", async () => (await hub.api.metric("uplink_pruned_rows_total", { table: "fanouts" })) === 1);
      expect(await hub.api.metric("uplink_pruned_rows_total", { table: "fanout_targets" })).toBe(1);

      const history = await hub.api.history({ agentId: single.agentId });
      expect(history.queries.map((q) => q.correlationId)).toEqual(sent.slice(3).reverse());
      for (const old of sent.slice(0, 3)) expect((await hub.api.get(`/api/v1/queries/${old}`)).status).toBe(404);
      expect((await hub.api.get(`/api/v1/queries/${sent[5]}`)).body).toMatchObject({ status: "ok" });
      expect((await hub.api.get(`/api/v1/queries/${fanouts[0]}`)).status).toBe(404);
      for (const kept of fanouts.slice(1)) expect((await hub.api.get(`/api/v1/queries/${kept}`)).body).toMatchObject({ status: "done", targetCount: 1 });
    });
  });

  describe("agents", () => {
    it("lists agents filtered by status and by label, with their presence fields", async () => {
      const hub = shared();
      const suite = randomUUID();
      const db = await hub.api.enroll("db-1", { suite, role: "db", zone: "a" });
      const web = await hub.api.enroll("web-1", { suite, role: "web", zone: "a" });
      await hub.api.enroll("db-2", { suite, role: "db", zone: "b" });
      await rawAgents.connect(hub.agentUrl, { agentKey: db.agentKey, hostname: "db-1" });
      await waitFor("db-1 online with a health result", async () => {
        const { body } = await hub.api.agent(db.agentId);
        return body.status === "online" && body.lastHealth !== null;
      });

      const list = async (qs: string) => ((await hub.api.get(`/api/v1/agents?label=suite=${suite}${qs}`)).body.agents as AgentView[]).map((a) => a.hostname).sort();
      expect(await list("")).toEqual(["db-1", "db-2", "web-1"]);
      expect(await list("&status=online")).toEqual(["db-1"]);
      expect(await list("&status=offline")).toEqual(["db-2", "web-1"]);
      expect(await list("&label=role=db")).toEqual(["db-1", "db-2"]);
      expect(await list("&label=role=db&label=zone=b")).toEqual(["db-2"]);
      expect(await list("&label=role=cache")).toEqual([]);

      const badStatus = await hub.api.get("/api/v1/agents?status=sleeping");
      expect(badStatus.status).toBe(400);
      expect(badStatus.body.error.code).toBe("invalid_request");

      // A page at a time (hostname, then id), with the counts per status of the label filter on every page.
      const page = async (qs: string) => (await hub.api.get(`/api/v1/agents?label=suite=${suite}${qs}`)).body as { agents: AgentView[]; nextAfter: string | null; counts: unknown };
      const first = await page("&limit=2");
      expect(first.agents.map((a) => a.hostname)).toEqual(["db-1", "db-2"]);
      expect(first.counts).toEqual({ online: 1, unresponsive: 0, offline: 2 });
      expect(first.nextAfter).toEqual(expect.any(String));
      const second = await page(`&limit=2&after=${encodeURIComponent(first.nextAfter!)}`);
      expect(second).toEqual({ agents: [expect.objectContaining({ hostname: "web-1" })], nextAfter: null, counts: first.counts });
      expect(await page("&limit=3")).toMatchObject({ nextAfter: null, counts: first.counts });
      const offline = await page("&limit=1&status=offline");
      expect(offline.agents.map((a) => a.hostname)).toEqual(["db-2"]);
      expect(offline.counts).toEqual(first.counts);
      expect((await page(`&limit=1&status=offline&after=${encodeURIComponent(offline.nextAfter!)}`)).agents.map((a) => a.hostname)).toEqual(["web-1"]);
      expect(await page("&limit=5&label=role=db")).toMatchObject({ nextAfter: null, counts: { online: 1, unresponsive: 0, offline: 1 } });
      for (const bad of ["limit=0", "limit=1001", "limit=x", "after=abc", "limit=2&after=not-a-cursor"]) {
        const refused = await hub.api.get(`/api/v1/agents?${bad}`);
        expect(refused.status, bad).toBe(400);
        expect(refused.body.error.code).toBe("invalid_request");
      }

      const { body: online } = await hub.api.agent(db.agentId);
      expect(online).toMatchObject({ id: db.agentId, hostname: "db-1", status: "online", protocol: 2, agentVersion: "raw-agent/1.0", labels: { suite, role: "db", zone: "a" } });
      expect(online.connectedAt).not.toBeNull();
      expect(online.lastSeenAt).not.toBeNull();
      expect(online.replicaId).toMatch(/^hub_/);
      expect(online.lastHealth).toMatchObject({ status: "ok" });
      expect((await hub.api.agent(web.agentId)).body).toMatchObject({ status: "offline", connectedAt: null, lastHealth: null });
    });
  });

  describe("presence between flushes", () => {
    const hubs = useHubs();

    it("shows lastSeenAt and lastHealth fresh from the polls while the store keeps them for the next flush, and writes them when the agent goes", async () => {
      const hub = await hubs.start({ healthInterval: "200ms", args: ["--presence-flush", "1h"] });
      const { agentId, agentKey } = await hub.api.enroll("fresh");
      await rawAgents.connect(hub.agentUrl, { agentKey, hostname: "fresh" });
      const online = await waitFor("online with a health result", async () => {
        const { body } = await hub.api.agent(agentId);
        return body.status === "online" && body.lastHealth !== null ? body : undefined;
      });
      const connectedAt = Date.parse(online.connectedAt ?? "");
      // Several polls later, the list shows them; the store still has what the connect wrote.
      const listed = await waitFor("lastSeenAt moved on by the polls", async () => {
        const agent = ((await hub.api.get("/api/v1/agents")).body.agents as AgentView[]).find((a) => a.id === agentId);
        return agent !== undefined && Date.parse(agent.lastSeenAt ?? "") > connectedAt + 600 ? agent : undefined;
      });
      expect(listed).toMatchObject({ status: "online", lastHealth: { status: "ok" } });
      expect(storedPresence(hub.dataDir, agentId)).toEqual({ status: "online", lastSeenAt: connectedAt, hasHealth: 0 });
      expect((await hubs.stop(hub)).code).toBe(0);
      const stored = storedPresence(hub.dataDir, agentId) as { status: string; lastSeenAt: number; hasHealth: number };
      expect(stored).toMatchObject({ status: "offline", hasHealth: 1 });
      expect(stored.lastSeenAt).toBeGreaterThanOrEqual(Date.parse(listed.lastSeenAt ?? ""));
    });
  });

  describe("system endpoints", () => {
    it("serves /healthz and /readyz without a token, and Prometheus /metrics (on the metrics listener) with uplink_agents_connected", async () => {
      const hub = shared();
      const healthz = await hub.api.get("/healthz", { token: null });
      expect(healthz.status).toBe(200);
      expect(healthz.body).toMatchObject({ status: "ok" });
      const readyz = await hub.api.get("/readyz", { token: null });
      expect(readyz.status).toBe(200);
      expect(readyz.body).toMatchObject({ status: "ready" });

      const before = await hub.api.metric("uplink_agents_connected");
      const { agent } = await rawAgents.enrolled(hub, "metered");
      const metrics = await hub.api.scrape();
      expect(metrics.status).toBe(200);
      expect(metrics.contentType).toContain("text/plain");
      expect(metrics.text).toMatch(/^# TYPE uplink_agents_connected gauge$/m);
      expect(await hub.api.metric("uplink_agents_connected")).toBe(before + 1);
      await agent.close();
      await waitFor("the gauge to drop", async () => (await hub.api.metric("uplink_agents_connected")) === before);
    });
  });
});
