/**
 * The contract every Store implementation keeps, as one vitest suite: `describeStoreContract` runs it against
 * a store the caller makes (SqliteStore and PostgresStore beside their code). A test helper, so it lives
 * outside `src/` and is never compiled into the package.
 */
import { MAX_HEALTH_SAMPLES } from "@uplink/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Store, TokenRecord } from "../src/store/store.js";
import { destinationCases } from "./destination-contract.js";
import { retentionCases } from "./retention-contract.js";
import { scheduleCases } from "./schedule-contract.js";

/**
 * The behaviour every Store implementation owes the hub. Each implementation's test file calls this
 * with a factory that makes a fresh, empty store.
 */
export function describeStoreContract(name: string, makeStore: () => Promise<Store>): void {
  describe(`${name} (Store contract)`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await makeStore();
    });
    afterEach(async () => {
      await store.close();
    });

    const token = (id: string, over: Partial<TokenRecord> = {}): TokenRecord => ({
      id,
      kind: "api",
      scope: "read",
      name: `name-${id}`,
      secretHash: "ab".repeat(32),
      createdAt: 1000,
      expiresAt: null,
      revokedAt: null,
      labels: null,
      maxUses: null,
      uses: 0,
      ...over,
    });

    it("is ready once open", async () => {
      expect(await store.ready()).toBe(true);
    });

    it("creates, finds, lists and revokes tokens", async () => {
      await store.createToken(token("tok_a"));
      await store.createToken(token("tok_b", { kind: "enroll", scope: null, expiresAt: 5000 }));
      expect(await store.findToken("tok_a")).toEqual(token("tok_a"));
      expect(await store.findToken("tok_missing")).toBeUndefined();
      expect((await store.listTokens()).map((t) => t.id)).toEqual(["tok_a", "tok_b"]);
      expect(await store.revokeToken("tok_a", 2000)).toBe(true);
      expect(await store.revokeToken("tok_a", 3000)).toBe(false);
      expect((await store.findToken("tok_a"))?.revokedAt).toBe(2000);
      expect(await store.revokeToken("tok_missing", 2000)).toBe(false);
    });

    it("records agents, patches presence and filters by status and labels", async () => {
      await store.createAgent({ id: "agt_1", secretHash: "cd".repeat(32), hostname: "web-1", labels: { env: "prod", role: "web" }, enrolledAt: 10 });
      await store.createAgent({ id: "agt_2", secretHash: "ef".repeat(32), hostname: "db-1", labels: { env: "prod", role: "db" }, enrolledAt: 11 });
      const health = { status: "ok" as const, agentVersion: "1", uptimeS: 1, load1: 0, memFreeBytes: 1, memTotalBytes: 2, inflight: 0, collectors: ["host"] };
      await store.updateAgent("agt_1", { status: "online", protocol: 2, connectedAt: 20, lastSeenAt: 21, replicaId: "hub_a", lastHealth: health });
      const a1 = await store.findAgent("agt_1");
      expect(a1).toMatchObject({ id: "agt_1", hostname: "web-1", status: "online", protocol: 2, connectedAt: 20, lastSeenAt: 21, replicaId: "hub_a", lastHealth: health, revokedAt: null });
      expect(a1?.legacyShapes).toBeNull();
      await store.updateAgent("agt_1", { legacyShapes: ["no_hello", "no_ok"] });
      expect((await store.findAgent("agt_1"))?.legacyShapes).toEqual(["no_hello", "no_ok"]);
      await store.updateAgent("agt_1", { legacyShapes: [] });
      expect((await store.findAgent("agt_1"))?.legacyShapes).toEqual([]);
      await store.updateAgent("agt_1", { legacyShapes: null });
      expect((await store.findAgent("agt_1"))?.legacyShapes).toBeNull();
      expect((await store.listAgents({ status: "online" })).map((a) => a.id)).toEqual(["agt_1"]);
      expect((await store.listAgents({ labels: { env: "prod" } })).map((a) => a.id).sort()).toEqual(["agt_1", "agt_2"]);
      expect((await store.listAgents({ labels: { env: "prod", role: "db" } })).map((a) => a.id)).toEqual(["agt_2"]);
      await store.markOffline("hub_other");
      expect((await store.findAgent("agt_1"))?.status).toBe("online");
      await store.markOffline("hub_a");
      expect((await store.findAgent("agt_1"))?.status).toBe("offline");
    });

    it("records a presence batch for the agents a replica holds: lastSeenAt never moves back, a null health keeps the last", async () => {
      const health = (uptimeS: number) => ({ status: "ok" as const, agentVersion: "1", uptimeS, load1: 0, memFreeBytes: 1, memTotalBytes: 2, inflight: 0, collectors: ["host"] });
      for (const id of ["agt_p1", "agt_p2", "agt_p3"]) await store.createAgent({ id, secretHash: "cd".repeat(32), hostname: id, labels: {}, enrolledAt: 1 });
      await store.updateAgent("agt_p1", { status: "online", replicaId: "hub_a", lastSeenAt: 10, lastHealth: health(1) });
      await store.updateAgent("agt_p2", { status: "online", replicaId: "hub_a", lastSeenAt: 50 });
      await store.updateAgent("agt_p3", { status: "online", replicaId: "hub_b", lastSeenAt: 10 });
      await store.recordPresence("hub_a", []);
      await store.recordPresence("hub_a", [
        { id: "agt_p1", lastSeenAt: 20, lastHealth: null },
        { id: "agt_p2", lastSeenAt: 40, lastHealth: health(2) },
        { id: "agt_p3", lastSeenAt: 99, lastHealth: health(3) },
        { id: "agt_missing", lastSeenAt: 99, lastHealth: null },
      ]);
      expect(await store.findAgent("agt_p1")).toMatchObject({ lastSeenAt: 20, lastHealth: health(1), status: "online" });
      expect(await store.findAgent("agt_p2")).toMatchObject({ lastSeenAt: 50, lastHealth: health(2) });
      expect(await store.findAgent("agt_p3")).toMatchObject({ lastSeenAt: 10, lastHealth: null });
    });

    it("appends one health sample per presence row with a health result, reads the newest N oldest first, prunes by age in batches", async () => {
      const health = (load1: number) => ({ status: "ok" as const, agentVersion: "1", uptimeS: 1, load1, memFreeBytes: 100 + Math.floor(load1), memTotalBytes: 200, inflight: 1, collectors: ["host"] });
      for (const id of ["agt_h1", "agt_h2"]) {
        await store.createAgent({ id, secretHash: "cd".repeat(32), hostname: id, labels: {}, enrolledAt: 1 });
        await store.updateAgent(id, { status: "online", replicaId: "hub_a", lastSeenAt: 1 });
      }
      expect(await store.listHealthSamples("agt_h1", MAX_HEALTH_SAMPLES)).toEqual([]);
      await store.recordPresence("hub_a", [
        { id: "agt_h1", lastSeenAt: 10, lastHealth: health(1.5) },
        { id: "agt_h2", lastSeenAt: 10, lastHealth: null },
      ]);
      await store.recordPresence("hub_a", [{ id: "agt_h1", lastSeenAt: 20, lastHealth: { ...health(2), status: "degraded" } }]);
      expect(await store.listHealthSamples("agt_h1", MAX_HEALTH_SAMPLES)).toEqual([
        { at: 10, status: "ok", load1: 1.5, memFreeBytes: 101, memTotalBytes: 200, inflight: 1 },
        { at: 20, status: "degraded", load1: 2, memFreeBytes: 102, memTotalBytes: 200, inflight: 1 },
      ]);
      expect(await store.listHealthSamples("agt_h2", MAX_HEALTH_SAMPLES)).toEqual([]);
      // The agent record carries none of them.
      expect(await store.findAgent("agt_h1")).not.toHaveProperty("healthSamples");
      for (let i = 3; i <= MAX_HEALTH_SAMPLES + 5; i++) await store.recordPresence("hub_a", [{ id: "agt_h1", lastSeenAt: i * 10, lastHealth: health(i) }]);
      const samples = await store.listHealthSamples("agt_h1", MAX_HEALTH_SAMPLES);
      expect(samples.map((x) => x.at)).toEqual(Array.from({ length: MAX_HEALTH_SAMPLES }, (_, i) => (i + 6) * 10));
      // Another replica's flush appends nothing to an agent it does not hold.
      await store.recordPresence("hub_b", [{ id: "agt_h2", lastSeenAt: 99, lastHealth: health(9) }]);
      expect(await store.listHealthSamples("agt_h2", MAX_HEALTH_SAMPLES)).toEqual([]);
      // Pruned by age, oldest first, at most a batch a statement: samples before 200 go (1–19: 19 of them).
      expect(await store.history.pruneHealthSamples(200, 15)).toBe(15);
      expect(await store.history.pruneHealthSamples(200, 15)).toBe(4);
      expect(await store.history.pruneHealthSamples(200, 15)).toBe(0);
      expect((await store.listHealthSamples("agt_h1", 1000)).map((x) => x.at)).toEqual(Array.from({ length: MAX_HEALTH_SAMPLES + 5 - 19 }, (_, i) => (i + 20) * 10));
    });

    it("lists agents a page at a time by hostname then id (keyset, byte order), filtered, with counts per status for the labels", async () => {
      // Hostnames shared and in mixed case, so the id breaks ties and the order is bytes, not a locale's.
      const agents: [string, string, Record<string, string>][] = [
        ["agt_b", "web", { env: "prod" }],
        ["agt_a", "web", { env: "prod" }],
        ["agt_c", "Web", { env: "dev" }],
        ["agt_d", "db", { env: "prod", role: "db" }],
        ["agt_e", "app", { env: "prod" }],
        ["agt_f", "zz", { env: "prod" }],
      ];
      for (const [id, hostname, labels] of agents) await store.createAgent({ id, secretHash: "cd".repeat(32), hostname, labels, enrolledAt: 1 });
      await store.updateAgent("agt_a", { status: "online" });
      await store.updateAgent("agt_d", { status: "unresponsive" });
      await store.updateAgent("agt_c", { status: "online" });
      await store.revokeAgent("agt_f", 5);
      const order = ["agt_c", "agt_e", "agt_d", "agt_a", "agt_b"];
      expect((await store.listAgents({})).map((a) => a.id)).toEqual(order);
      const walk = async (filter: { status?: "online" | "offline" | "unresponsive"; labels?: Record<string, string> }, limit: number) => {
        const pages: string[][] = [];
        let after: { hostname: string; id: string } | null = null;
        for (;;) {
          const page = await store.listAgentsPage({ ...filter, limit, after });
          pages.push(page.map((a) => a.id));
          if (page.length < limit) return pages;
          after = { hostname: page.at(-1)!.hostname, id: page.at(-1)!.id };
        }
      };
      expect(await walk({}, 2)).toEqual([["agt_c", "agt_e"], ["agt_d", "agt_a"], ["agt_b"]]);
      expect(await walk({}, 5)).toEqual([order, []]);
      expect(await walk({ labels: { env: "prod" } }, 2)).toEqual([["agt_e", "agt_d"], ["agt_a", "agt_b"], []]);
      expect(await walk({ labels: { env: "prod", role: "db" } }, 2)).toEqual([["agt_d"]]);
      expect(await walk({ status: "offline" }, 1)).toEqual([["agt_e"], ["agt_b"], []]);
      expect(await walk({ status: "online", labels: { env: "prod" } }, 10)).toEqual([["agt_a"]]);
      // A page's full record, as listAgents gives it.
      expect((await store.listAgentsPage({ limit: 1, after: { hostname: "db", id: "agt_d" } }))[0]).toEqual((await store.findAgent("agt_a"))!);
      expect(await store.countAgents({})).toEqual({ online: 2, unresponsive: 1, offline: 2 });
      expect(await store.countAgents({ env: "prod" })).toEqual({ online: 1, unresponsive: 1, offline: 2 });
      expect(await store.countAgents({ env: "prod", role: "db" })).toEqual({ online: 0, unresponsive: 1, offline: 0 });
      expect(await store.countAgents({ env: "nowhere" })).toEqual({ online: 0, unresponsive: 0, offline: 0 });
    });

    it("keeps console sessions by id, ends one, ends a token's, and prunes the expired", async () => {
      const session = (id: string, tokenId: string, expiresAt: number) => ({ id, tokenId, secretHash: "ef".repeat(32), csrfToken: `csrf-${id}`, createdAt: 100, expiresAt });
      await store.createSession(session("ses_a", "tok_1", 1000));
      await store.createSession(session("ses_b", "tok_1", 5000));
      await store.createSession(session("ses_c", "tok_2", 5000));
      expect(await store.findSession("ses_a")).toEqual(session("ses_a", "tok_1", 1000));
      expect(await store.findSession("ses_missing")).toBeUndefined();
      expect(await store.pruneSessions(1000)).toBe(1);
      expect(await store.findSession("ses_a")).toBeUndefined();
      expect(await store.deleteTokenSessions("tok_1")).toBe(1);
      expect(await store.findSession("ses_b")).toBeUndefined();
      expect(await store.deleteSession("ses_c")).toBe(true);
      expect(await store.deleteSession("ses_c")).toBe(false);
      expect(await store.pruneSessions(10_000)).toBe(0);
    });

    it("keeps an enrollment token's labels and counts its uses atomically up to maxUses", async () => {
      await store.createToken(token("tok_e", { kind: "enroll", scope: null, labels: { env: "prod", team: "db" }, maxUses: 2, expiresAt: 10_000 }));
      expect(await store.findToken("tok_e")).toEqual(token("tok_e", { kind: "enroll", scope: null, labels: { env: "prod", team: "db" }, maxUses: 2, expiresAt: 10_000 }));
      // Three hosts race for two uses: exactly two win.
      const raced = await Promise.all([1, 2, 3].map(() => store.consumeEnrollToken("tok_e", 5_000)));
      expect(raced.filter(Boolean)).toHaveLength(2);
      expect((await store.findToken("tok_e"))?.uses).toBe(2);
      expect(await store.consumeEnrollToken("tok_e", 5_000)).toBe(false);
      expect((await store.findToken("tok_e"))?.uses).toBe(2);
    });

    it("refuses to count a use of an expired, revoked, unknown or api token; unlimited without maxUses", async () => {
      await store.createToken(token("tok_x", { kind: "enroll", scope: null, expiresAt: 5_000 }));
      expect(await store.consumeEnrollToken("tok_x", 5_000)).toBe(false);
      expect(await store.consumeEnrollToken("tok_x", 4_999)).toBe(true);
      await store.createToken(token("tok_r", { kind: "enroll", scope: null }));
      await store.revokeToken("tok_r", 100);
      expect(await store.consumeEnrollToken("tok_r", 200)).toBe(false);
      expect(await store.consumeEnrollToken("tok_api", 200)).toBe(false);
      await store.createToken(token("tok_api"));
      expect(await store.consumeEnrollToken("tok_api", 200)).toBe(false);
      await store.createToken(token("tok_u", { kind: "enroll", scope: null }));
      for (let i = 0; i < 5; i++) expect(await store.consumeEnrollToken("tok_u", 200)).toBe(true);
      expect(await store.findToken("tok_u")).toMatchObject({ uses: 5, maxUses: null, labels: null });
    });

    it("keeps an agent's reported labels apart from its labels, and filters by its labels only", async () => {
      await store.createAgent({ id: "agt_l", secretHash: "12".repeat(32), hostname: "h", labels: { env: "staging" }, reportedLabels: { env: "prod" }, enrolledAt: 1 });
      await store.createAgent({ id: "agt_m", secretHash: "13".repeat(32), hostname: "i", labels: {}, enrolledAt: 1 });
      expect(await store.findAgent("agt_l")).toMatchObject({ labels: { env: "staging" }, reportedLabels: { env: "prod" } });
      expect(await store.findAgent("agt_m")).toMatchObject({ labels: {}, reportedLabels: {} });
      await store.updateAgent("agt_m", { reportedLabels: { env: "prod", role: "web" } });
      expect(await store.findAgent("agt_m")).toMatchObject({ labels: {}, reportedLabels: { env: "prod", role: "web" } });
      expect(await store.listAgents({ labels: { env: "prod" } })).toEqual([]);
      await store.updateAgent("agt_m", { labels: { env: "prod" } });
      expect((await store.listAgents({ labels: { env: "prod" } })).map((a) => a.id)).toEqual(["agt_m"]);
      expect((await store.findAgent("agt_m"))?.reportedLabels).toEqual({ env: "prod", role: "web" });
    });

    it("revokes an agent once and hides it from the list", async () => {
      await store.createAgent({ id: "agt_r", secretHash: "00".repeat(32), hostname: "h", labels: {}, enrolledAt: 1 });
      await store.updateAgent("agt_r", { status: "online" });
      expect(await store.revokeAgent("agt_r", 50)).toBe(true);
      expect(await store.revokeAgent("agt_r", 60)).toBe(false);
      expect(await store.findAgent("agt_r")).toMatchObject({ revokedAt: 50, status: "offline" });
      expect(await store.listAgents({})).toEqual([]);
    });

    it("lists the ids of the agents listAgents answers, in its order, with or without labels, never a revoked one", async () => {
      const agents = [["agt_c", "web-2", { env: "prod", role: "web" }], ["agt_a", "web-1", { env: "prod", role: "web" }], ["agt_b", "db-1", { env: "prod", role: "db" }], ["agt_d", "web-1", { env: "dev" }], ["agt_gone", "web-0", { env: "prod" }]] as const;
      for (const [id, hostname, labels] of agents) await store.createAgent({ id, secretHash: "00".repeat(32), hostname, labels, enrolledAt: 1 });
      await store.revokeAgent("agt_gone", 5);
      const filters: { labels?: Record<string, string> }[] = [{}, { labels: { env: "prod" } }, { labels: { env: "prod", role: "web" } }, { labels: { env: "none" } }];
      for (const filter of filters) {
        expect(await store.listAgentIds(filter), JSON.stringify(filter)).toEqual((await store.listAgents(filter)).map((a) => a.id));
      }
      expect(await store.listAgentIds({})).toEqual(["agt_b", "agt_a", "agt_d", "agt_c"]);
      expect(await store.listAgentIds({ labels: { env: "prod", role: "web" } })).toEqual(["agt_a", "agt_c"]);
    });

    it("keeps the query audit, newest first, paged by seq and filtered by agent", async () => {
      for (let i = 1; i <= 5; i++) {
        await store.insertAudit({ correlationId: `c${i}`, agentId: i % 2 ? "agt_odd" : "agt_even", requester: "ops", sessionId: "s", requestId: i === 1 ? "req-1" : null, collector: "host", query: `select ${i}`, createdAt: i });
      }
      await store.finishAudit("c1", { status: "ok", finishedAt: 9, durationMs: 1.5, errorCode: null, errorMessage: null, resultJson: JSON.stringify({ columns: ["x"], rows: [[1]], rowCount: 1, truncated: false }), resultTruncated: false });
      await store.finishAudit("c2", { status: "timeout", finishedAt: 9, durationMs: 30, errorCode: "timeout", errorMessage: "late", resultJson: null, resultTruncated: false });
      const all = await store.listAudit({ limit: 10 });
      expect(all.map((r) => r.correlationId)).toEqual(["c5", "c4", "c3", "c2", "c1"]);
      expect(all[4]).toMatchObject({ status: "ok", requestId: "req-1", durationMs: 1.5, result: { rowCount: 1 } });
      expect(all[3]).toMatchObject({ status: "timeout", errorCode: "timeout", errorMessage: "late", result: null });
      expect(all[0]).toMatchObject({ status: "pending", finishedAt: null });
      const page = await store.listAudit({ limit: 2, before: all[1]!.seq });
      expect(page.map((r) => r.correlationId)).toEqual(["c3", "c2"]);
      expect((await store.listAudit({ limit: 10, agentId: "agt_even" })).map((r) => r.correlationId)).toEqual(["c4", "c2"]);
      expect((await store.listAudit({ limit: 10, status: "timeout" })).map((r) => r.correlationId)).toEqual(["c2"]);
      expect((await store.listAudit({ limit: 10, status: "pending", agentId: "agt_odd" })).map((r) => r.correlationId)).toEqual(["c5", "c3"]);
      expect(await store.findAudit("c2")).toMatchObject({ correlationId: "c2", status: "timeout", fanoutId: null });
      expect(await store.findAudit("c-missing")).toBeUndefined();
    });

    it("records a fan-out with its targets and lists results in landing order", async () => {
      const target = (i: number) => ({ correlationId: `f${i}`, agentId: `agt_${i}`, requester: "ops", sessionId: "s", requestId: null, collector: "host", query: "select 1", createdAt: 5 });
      await store.createFanout({ id: "fan_1", query: "select 1", collector: "host", requester: "ops", requestId: "r", timeoutMs: 1000, targetCount: 3, createdAt: 5, replicaId: "hub-a" }, [1, 2, 3].map(target));
      expect(await store.findFanout("fan_1")).toMatchObject({ id: "fan_1", targetCount: 3, finishedAt: null, requestId: "r", replicaId: "hub-a" });
      expect(await store.findFanout("fan_missing")).toBeUndefined();
      const done = { finishedAt: 6, durationMs: 1, errorCode: null, errorMessage: null, resultJson: null, resultTruncated: false };
      await store.finishAudit("f3", { ...done, status: "offline", resultSeq: 1 });
      await store.finishAudit("f1", { ...done, status: "ok", resultSeq: 2, resultJson: "[1]" });
      const targets = await store.listFanoutTargets("fan_1");
      expect(targets.map((t) => [t.correlationId, t.status, t.resultSeq, t.fanoutId])).toEqual([
        ["f3", "offline", 1, "fan_1"],
        ["f1", "ok", 2, "fan_1"],
        ["f2", "pending", null, "fan_1"],
      ]);
      expect((await store.listFanoutResults("fan_1", 1)).map((t) => t.correlationId)).toEqual(["f1"]);
      await store.finishFanout("fan_1", 9);
      expect((await store.findFanout("fan_1"))?.finishedAt).toBe(9);
    });

    it("pages a fan-out's targets in agent-id byte order and counts them by state", async () => {
      // Inserted out of order, with ids whose byte order differs from a locale's (upper case first, '-' before digits).
      const ids = ["agt_b", "agt_B", "agt_a-2", "agt_a10", "agt_a2", "agt_c", "agt_Z"];
      const target = (agentId: string, i: number) => ({ correlationId: `p${i}`, agentId, requester: "ops", sessionId: "s", requestId: null, collector: "host", query: "select 1", createdAt: 5 });
      await store.createFanout({ id: "fan_paged", query: "select 1", collector: "host", requester: "ops", requestId: null, timeoutMs: 1000, targetCount: ids.length, createdAt: 5 }, ids.map(target));
      await store.createFanout({ id: "fan_other", query: "select 1", collector: "host", requester: "ops", requestId: null, timeoutMs: 1000, targetCount: 1, createdAt: 5 }, [target("agt_a3", 99)]);
      const done = { finishedAt: 6, durationMs: 1, errorCode: null, errorMessage: null, resultJson: null, resultTruncated: false };
      await store.finishAudit("p0", { ...done, status: "ok", resultSeq: 1, resultJson: "[1]" });
      await store.finishAudit("p6", { ...done, status: "offline", resultSeq: 2, errorCode: "agent_offline", errorMessage: "offline" });
      const sorted = [...ids].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      const pages: string[][] = [];
      let after: string | null = null;
      for (;;) {
        const page = await store.listFanoutTargetPage("fan_paged", after, 3);
        if (page.length === 0) break;
        pages.push(page.map((t) => t.agentId));
        after = page[page.length - 1]!.agentId;
      }
      expect(pages).toEqual([sorted.slice(0, 3), sorted.slice(3, 6), sorted.slice(6)]);
      expect(await store.listFanoutTargetPage("fan_paged", "agt_b", 10)).toMatchObject([{ agentId: "agt_c" }]);
      const first = await store.listFanoutTargetPage("fan_paged", null, 1);
      expect(first).toEqual([{ agentId: "agt_B", correlationId: "p1", status: "pending", result: null, errorCode: null, errorMessage: null, durationMs: null, resultSeq: null }]);
      expect(await store.listFanoutTargetPage("fan_paged", "agt_Z", 2)).toEqual([
        { agentId: "agt_a-2", correlationId: "p2", status: "pending", result: null, errorCode: null, errorMessage: null, durationMs: null, resultSeq: null },
        { agentId: "agt_a10", correlationId: "p3", status: "pending", result: null, errorCode: null, errorMessage: null, durationMs: null, resultSeq: null },
      ]);
      expect((await store.listFanoutTargetPage("fan_paged", "agt_B", 1))[0]).toEqual({ agentId: "agt_Z", correlationId: "p6", status: "offline", result: null, errorCode: "agent_offline", errorMessage: "offline", durationMs: 1, resultSeq: 2 });
      expect((await store.listFanoutTargetPage("fan_paged", "agt_a2", 1))[0]).toMatchObject({ agentId: "agt_b", correlationId: "p0", status: "ok", result: [1], resultSeq: 1 });
      expect((await store.listFanoutTargetPage("fan_paged", "agt_a", 10)).map((t) => t.agentId)).toEqual(sorted.filter((id) => id > "agt_a"));
      expect(await store.listFanoutTargetPage("fan_missing", null, 10)).toEqual([]);
      expect(await store.countFanoutTargets("fan_paged")).toEqual({ pending: 5, ok: 1, offline: 1 });
      expect(await store.countFanoutTargets("fan_missing")).toEqual({});
    });

    it("appends events in order and replays after a seq", async () => {
      const appended = await store.appendEvents([1, 2, 3, 4, 5].map((i) => ({ type: "agent.connected" as const, data: { agentId: `agt_${i}` }, createdAt: i })));
      expect(appended.map((e) => e.seq)).toEqual([...appended.map((e) => e.seq)].sort((a, b) => a - b));
      const [first, second] = appended;
      expect((await store.listEvents(second!.seq, 2)).map((e) => e.data.agentId)).toEqual(["agt_3", "agt_4"]);
      expect(first!.type).toBe("agent.connected");
    });

    it("claims an idempotency key once, keeps the response, replaces it only once expired", async () => {
      const claim = { key: "k1", requester: "tok_a", fingerprint: "f1", owner: "hub_a:1", createdAt: 100, expiresAt: 200 };
      expect(await store.claimIdempotencyKey(claim, 100)).toBeUndefined();
      // A second claim, another owner, before expiry: the holder is returned, untouched.
      const held = await store.claimIdempotencyKey({ ...claim, owner: "hub_b:2", fingerprint: "f2" }, 150);
      expect(held).toEqual({ ...claim, state: "running", response: null });
      expect(await store.completeIdempotencyKey("k1", "hub_b:2", "nope", 999)).toBe(false);
      expect(await store.completeIdempotencyKey("k1", "hub_a:1", "sealed", 1000)).toBe(true);
      expect(await store.completeIdempotencyKey("k1", "hub_a:1", "again", 1000)).toBe(false);
      expect(await store.findIdempotencyKey("k1")).toEqual({ ...claim, state: "done", expiresAt: 1000, response: "sealed" });
      expect(await store.claimIdempotencyKey({ ...claim, owner: "hub_b:3" }, 999)).toMatchObject({ state: "done", response: "sealed" });
      // Expired: a new claim takes the key over.
      expect(await store.claimIdempotencyKey({ ...claim, owner: "hub_b:4", createdAt: 1000, expiresAt: 2000 }, 1000)).toBeUndefined();
      expect(await store.findIdempotencyKey("k1")).toMatchObject({ owner: "hub_b:4", state: "running", response: null });
      expect(await store.findIdempotencyKey("k-missing")).toBeUndefined();
    });

    it("releases a claim only for its owner, prunes expired keys and drops running claims", async () => {
      const claim = (key: string, expiresAt: number) => ({ key, requester: "tok_a", fingerprint: "f", owner: `o-${key}`, createdAt: 1, expiresAt });
      await store.claimIdempotencyKey(claim("r", 100), 1);
      await store.releaseIdempotencyKey("r", "someone-else");
      expect(await store.findIdempotencyKey("r")).toBeDefined();
      await store.releaseIdempotencyKey("r", "o-r");
      expect(await store.findIdempotencyKey("r")).toBeUndefined();
      for (const [key, expiresAt] of [["old", 10], ["new", 500], ["run", 500]] as const) await store.claimIdempotencyKey(claim(key, expiresAt), 1);
      await store.completeIdempotencyKey("old", "o-old", "x", 10);
      await store.completeIdempotencyKey("new", "o-new", "y", 500);
      expect(await store.pruneIdempotencyKeys(100)).toBe(1);
      expect(await store.findIdempotencyKey("old")).toBeUndefined();
      await store.dropIdempotencyClaims();
      expect(await store.findIdempotencyKey("run")).toBeUndefined();
      expect(await store.findIdempotencyKey("new")).toMatchObject({ state: "done", response: "y" });
    });

    it("closes out the open work of one owner, fan-out targets in landing order after the landed ones, and finishes its fan-outs", async () => {
      const single = (id: string, replicaId: string | null) => ({ correlationId: id, agentId: `agt_${id}`, requester: "ops", sessionId: "s", requestId: null, collector: "host", query: "select 1", createdAt: 5, replicaId });
      await store.insertAudit(single("s_dead", "hub_dead"));
      await store.insertAudit(single("s_live", "hub_live"));
      await store.insertAudit(single("s_done", "hub_dead"));
      await store.finishAudit("s_done", { status: "ok", finishedAt: 6, durationMs: 1, errorCode: null, errorMessage: null, resultJson: "[]", resultTruncated: false });
      const target = (i: number) => ({ correlationId: `t${i}`, agentId: `agt_t${i}`, requester: "ops", sessionId: "fan_dead", requestId: null, collector: "host", query: "select 1", createdAt: 5 });
      await store.createFanout({ id: "fan_dead", query: "select 1", collector: "host", requester: "ops", requestId: null, timeoutMs: 1000, targetCount: 3, createdAt: 5, replicaId: "hub_dead" }, [1, 2, 3].map(target));
      await store.createFanout({ id: "fan_live", query: "select 1", collector: "host", requester: "ops", requestId: null, timeoutMs: 1000, targetCount: 0, createdAt: 5, replicaId: "hub_live" }, []);
      await store.finishAudit("t2", { status: "ok", finishedAt: 6, durationMs: 1, errorCode: null, errorMessage: null, resultJson: "[]", resultTruncated: false, resultSeq: 1 });
      expect((await store.openWorkOwners()).sort()).toEqual(["hub_dead", "hub_live"]);

      const closeOut = { code: "replica_lost" as const, message: "replica hub_dead stopped", at: 50 };
      const [first, second] = await Promise.all([store.closeOpenWork("hub_dead", closeOut), store.closeOpenWork("hub_dead", closeOut)]);
      // Exactly once: whichever ran first closed everything, the other found nothing left.
      const closed = first!.commands.length > 0 ? first! : second!;
      expect(first!.commands.length + second!.commands.length).toBe(1);
      expect(first!.fanouts.length + second!.fanouts.length).toBe(1);
      expect(closed).toEqual({ commands: [{ correlationId: "s_dead", agentId: "agt_s_dead" }], fanouts: [{ id: "fan_dead", targetCount: 3 }] });
      expect(await store.findAudit("s_dead")).toMatchObject({ status: "error", errorCode: "replica_lost", errorMessage: "replica hub_dead stopped", finishedAt: 50, resultSeq: null });
      // The first end wins: a late outcome from a hub taken for dead does not rewrite the close-out.
      await store.finishAudit("s_dead", { status: "ok", finishedAt: 70, durationMs: 1, errorCode: null, errorMessage: null, resultJson: "[]", resultTruncated: false });
      expect(await store.findAudit("s_dead")).toMatchObject({ status: "error", errorCode: "replica_lost" });
      expect(await store.findAudit("s_done")).toMatchObject({ status: "ok", errorCode: null });
      expect(await store.findAudit("s_live")).toMatchObject({ status: "pending" });
      expect((await store.listFanoutTargets("fan_dead")).map((t) => [t.correlationId, t.status, t.resultSeq, t.errorCode])).toEqual([
        ["t2", "ok", 1, null],
        ["t1", "error", 2, "replica_lost"],
        ["t3", "error", 3, "replica_lost"],
      ]);
      expect((await store.findFanout("fan_dead"))?.finishedAt).toBe(50);
      expect((await store.findFanout("fan_live"))?.finishedAt).toBeNull();
      expect(await store.openWorkOwners()).toEqual(["hub_live"]);

      // null: every owner (the embedded hub's start-up).
      const all = await store.closeOpenWork(null, { code: "hub_restarted", message: "restarted", at: 60 });
      expect(all).toEqual({ commands: [{ correlationId: "s_live", agentId: "agt_s_live" }], fanouts: [{ id: "fan_live", targetCount: 0 }] });
      expect(await store.findAudit("s_live")).toMatchObject({ status: "error", errorCode: "hub_restarted" });
      expect(await store.openWorkOwners()).toEqual([]);
    });

    it("tells which of a list of agents are revoked", async () => {
      for (const id of ["agt_a", "agt_b", "agt_c"]) await store.createAgent({ id, secretHash: "00".repeat(32), hostname: id, labels: {}, enrolledAt: 1 });
      await store.revokeAgent("agt_b", 5);
      expect(await store.revokedAmong(["agt_a", "agt_b", "agt_missing"])).toEqual(["agt_b"]);
      expect(await store.revokedAmong([])).toEqual([]);
    });

    it("lists the agents revoked since a cursor, in revocation order, a page at a time", async () => {
      for (const id of ["agt_a", "agt_b", "agt_c", "agt_d"]) await store.createAgent({ id, secretHash: "00".repeat(32), hostname: id, labels: {}, enrolledAt: 1 });
      const start = await store.revocationCursor();
      expect(await store.revokedSince(start, 10)).toEqual({ agentIds: [], cursor: start });
      await store.revokeAgent("agt_c", 9);
      await store.revokeAgent("agt_a", 5); // an earlier time from a skewed clock: order is the revocations', not the times'
      expect(await store.revokeAgent("agt_a", 6)).toBe(false); // revoked once: no second place in the order
      await store.revokeAgent("agt_missing", 7);

      const page = await store.revokedSince(start, 1);
      expect(page.agentIds).toEqual(["agt_c"]);
      const rest = await store.revokedSince(page.cursor, 10);
      expect(rest.agentIds).toEqual(["agt_a"]);
      expect(await store.revokedSince(rest.cursor, 10)).toEqual({ agentIds: [], cursor: rest.cursor });
      expect(await store.revocationCursor()).toBe(rest.cursor);
      expect((await store.revokedSince(0, 10)).agentIds).toEqual(["agt_c", "agt_a"]);

      await store.revokeAgent("agt_d", 10);
      expect((await store.revokedSince(rest.cursor, 10)).agentIds).toEqual(["agt_d"]);
    });

    retentionCases(() => store);
    destinationCases(() => store);
    scheduleCases(() => store);

    it("is not ready after close", async () => {
      await store.close();
      expect(await store.ready()).toBe(false);
      store = await makeStore();
    });
  });
}
