import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { QueryResult } from "../packages/protocol/dist/index.js";
import { afterEach, describe, expect, it } from "vitest";
import { createAgent, type Agent } from "../packages/agent/src/agent.js";
import type { Collector, QueryContext } from "../packages/agent/src/collectors/collector.js";
import { parseHubConfig } from "../packages/hub/src/config.js";
import { buildHub, type Hub } from "../packages/hub/src/hub.js";
import { createLogger } from "../packages/hub/src/logger.js";
import { createToken } from "../packages/hub/src/security/tokens.js";
import { SqliteStore } from "../packages/hub/src/store/sqlite-store.js";
import type { Store } from "../packages/hub/src/store/store.js";
import { enrollMany, settledResources, httpJson, leakedSince, type JsonAnswer } from "./fixtures/hardening.js";
import { Api } from "./fixtures/http.js";
import { useHubs } from "./fixtures/hub-process.js";
import { RawAgent, UpgradeRefused, useRawAgents } from "./fixtures/raw-agent.js";
import { sleep, waitFor } from "./fixtures/wait.js";

/** A logger that writes nowhere (no stream handle of its own to count). */
const silent = createLogger("silent", { write: () => undefined });

/** A hub in this process, so that its sockets and timers show in `process.getActiveResourcesInfo()`. */
interface InProcessHub {
  hub: Hub;
  url: string;
  agentUrl: string;
  adminToken: string;
  dataDir: string;
}

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function startInProcessHub(settings: Record<string, unknown> = {}, wrapStore?: (store: SqliteStore) => Store): Promise<InProcessHub> {
  const dataDir = await mkdtemp(join(tmpdir(), "uplink-leak-"));
  const config = parseHubConfig({ port: 0, host: "127.0.0.1", dataDir, healthIntervalMs: "200ms", pingIntervalMs: "500ms", queryTimeoutMs: "20s", logLevel: "silent", enrollRate: 1000, metricsPort: 0, ...settings }, {});
  const store = wrapStore?.(new SqliteStore(join(dataDir, "uplink.db")));
  const hub = buildHub(config, { log: silent, ...(store ? { store } : {}) });
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  cleanups.push(() => hub.close());
  const { port } = await hub.listen();
  const { token } = await createToken(hub.store, { kind: "api", scope: "admin", name: "leak-test" });
  return { hub, url: `http://127.0.0.1:${port}`, agentUrl: `ws://127.0.0.1:${port}/v1/agent`, adminToken: token, dataDir };
}

/** Enrolls without keep-alive sockets (a pooled client socket would count as a leak). */
async function enroll(h: InProcessHub, hostname: string): Promise<{ agentId: string; agentKey: string }> {
  const created = await httpJson(`${h.url}/api/v1/tokens`, { token: h.adminToken, json: { kind: "enroll", name: `enroll-${hostname}` } });
  const res = await httpJson(`${h.url}/api/v1/enroll`, { json: { token: created.body.token, hostname } });
  if (res.status !== 201) throw new Error(`enroll: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

function query(h: InProcessHub, agentId: string, text: string, timeoutMs = 20_000): Promise<JsonAnswer> {
  return httpJson(`${h.url}/api/v1/agents/${agentId}/query`, { token: h.adminToken, json: { query: text, timeoutMs } });
}

/** A collector whose queries run until aborted: work in flight when the agent stops. */
class BlockingCollector implements Collector {
  readonly name = "host";
  readonly signals: AbortSignal[] = [];
  query(_query: string, ctx: QueryContext): Promise<QueryResult> {
    this.signals.push(ctx.signal);
    return new Promise((_resolve, reject) => ctx.signal.addEventListener("abort", () => reject(new Error("aborted")), { once: true }));
  }
  async close(): Promise<void> {}
}

describe("Leak-free lifecycle (in-process hub and agent)", () => {
  it("leaves no socket or timer behind after an idle agent, and a busy one, disconnect", async () => {
    const h = await startInProcessHub();
    const idle = await enroll(h, "idle");
    const busy = await enroll(h, "busy");
    const baseline = await settledResources();

    const silentAgent = await RawAgent.connect(h.agentUrl, { agentKey: idle.agentKey, hello: false, autoHealth: false });
    await waitFor("the idle agent registered", () => h.hub.registry.size === 1);
    await sleep(300); // a health poll or two are scheduled and sent meanwhile
    await silentAgent.close();
    await waitFor("the idle agent gone", () => h.hub.registry.size === 0);
    expect(await leakedSince(baseline)).toEqual({});

    const busyAgent = await RawAgent.connect(h.agentUrl, { agentKey: busy.agentKey });
    await waitFor("the busy agent registered", () => h.hub.registry.get(busy.agentId) !== undefined);
    const pending = [query(h, busy.agentId, "select 1"), query(h, busy.agentId, "select 2")];
    await busyAgent.waitForQueries(2);
    await busyAgent.terminate();
    for (const res of await Promise.all(pending)) expect(res).toMatchObject({ status: 502, body: { error: { code: "agent_disconnected" } } });
    await waitFor("the busy agent gone", () => h.hub.registry.size === 0);
    expect(await leakedSince(baseline)).toEqual({});
  });

  it("closes a hub with idle and busy agents: in-flight commands fail at once, agents get 1001, nothing is left", async () => {
    const baseline = await settledResources();
    const h = await startInProcessHub();
    const ids = await Promise.all(["idle", "busy-1", "busy-2"].map((name) => enroll(h, name)));
    const [idle, ...busy] = await Promise.all(
      ids.map((id, i) => RawAgent.connect(h.agentUrl, { agentKey: id.agentKey, hello: i > 0, autoHealth: i > 0 })),
    );
    await waitFor("3 agents registered", () => h.hub.registry.size === 3);
    const inflight = [1, 2].flatMap((n) => [0, 1, 2].map((q) => query(h, ids[n]!.agentId, `select ${q}`)));
    await Promise.all(busy.map((a) => a!.waitForQueries(3)));
    expect(h.hub.registry.pendingCount()).toBeGreaterThanOrEqual(6);

    const t0 = performance.now();
    const closing = h.hub.close();
    expect(h.hub.close()).toBe(closing);
    const answers = await Promise.all(inflight);
    const failedAfterMs = performance.now() - t0;
    await closing;

    for (const res of answers) expect(res).toMatchObject({ status: 503, body: { error: { code: "hub_shutting_down" } } });
    expect(failedAfterMs).toBeLessThan(1_500);
    for (const agent of [idle, ...busy]) expect((await agent!.closed).code).toBe(1001);
    expect(await leakedSince(baseline)).toEqual({});

    // The store has every agent offline, with its last contact, written on the way out.
    const store = new SqliteStore(join(h.dataDir, "uplink.db"));
    const recorded = await store.listAgents({});
    await store.close();
    expect(recorded.map((a) => a.status)).toEqual(["offline", "offline", "offline"]);
    for (const a of recorded) expect(a.lastSeenAt).toBeGreaterThanOrEqual(a.connectedAt!);
  });

  it("refuses an upgrade whose credential check outlives the start of shutdown, and still closes promptly", async () => {
    // A store whose agent lookups take 300 ms, like a remote database under load.
    const slowLookups = (store: SqliteStore): Store =>
      new Proxy(store, {
        get(target, prop) {
          if (prop === "findAgent") return async (id: string) => (await sleep(300), target.findAgent(id));
          const value = Reflect.get(target, prop, target) as unknown;
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
    const h = await startInProcessHub({}, slowLookups);
    const { agentKey } = await enroll(h, "late-comer");
    const baseline = await settledResources();

    const attempt = RawAgent.connect(h.agentUrl, { agentKey }).then(
      (agent) => (void agent.terminate(), "admitted"),
      (err: unknown) => (err instanceof UpgradeRefused ? err : err),
    );
    await sleep(100); // the upgrade is waiting on the store now
    const t0 = performance.now();
    await h.hub.close();
    expect(performance.now() - t0).toBeLessThan(2_000);
    expect(await attempt).toMatchObject({ status: 503, json: { error: { code: "hub_shutting_down" } } });
    expect(await leakedSince(baseline)).toEqual({});
  });

  it("leaves nothing behind when the agent stops itself with a query running", async () => {
    const h = await startInProcessHub();
    const { agentId, agentKey } = await enroll(h, "self-stopping");
    const baseline = await settledResources();

    const collector = new BlockingCollector();
    const agent: Agent = createAgent(
      { hub: h.url, agentKey, hostname: "self-stopping", labels: {}, pingTimeoutMs: 2_000, reconnectBaseMs: 100, reconnectCapMs: 500, maxPayload: 1 << 20, queryTimeoutMs: 20_000, maxResultRows: 100, maxResultBytes: 1 << 20 },
      { log: silent, collectors: [collector] },
    );
    const running = agent.start();
    await waitFor("the agent online", () => h.hub.registry.get(agentId) !== undefined && agent.connectionState === "open");
    const pending = query(h, agentId, "select 'runs until aborted'");
    await waitFor("the query running on the agent", () => agent.inflight === 1);

    await agent.close();
    await expect(running).resolves.toBeUndefined();
    expect(await pending).toMatchObject({ status: 502, body: { error: { code: "agent_disconnected" } } });
    expect(collector.signals[0]?.aborted).toBe(true);
    await waitFor("the hub saw the agent go", () => h.hub.registry.size === 0);
    expect(await leakedSince(baseline)).toEqual({});
  });
});

describe("SIGTERM under load (real hub process)", () => {
  const hubs = useHubs();
  const rawAgents = useRawAgents();

  it("stops accepting, closes agents with 1001, fails pending commands, keeps every answer in the store and its logs, and exits 0 within 5 s", async () => {
    const hub = await hubs.start({ queryTimeout: "20s", healthInterval: "300ms", logLevel: "info", args: ["--enroll-rate", "1000"] });
    const ids = await enrollMany(hub.api, 16, "sigterm");
    // Half answer every query after 20 ms, half never answer.
    const agents = await Promise.all(
      ids.map((id, i) => rawAgents.connect(hub.agentUrl, { agentKey: id.agentKey, onQuery: i % 2 === 0 ? (c, a) => a.later(20, () => a.respond(c)) : undefined })),
    );
    await waitFor("16 agents connected", async () => (await hub.api.metric("uplink_agents_connected")) === 16);

    const api = new Api(hub.url, hub.adminToken);
    const seen: Array<{ status: number; code?: string; correlationId: string | null }> = [];
    const record = (res: { status: number; body: any; correlationId: string | null }) => seen.push({ status: res.status, code: res.body?.error?.code, correlationId: res.correlationId });
    // Two commands pending on each silent agent, and 12 callers looping over the answering ones.
    const silentIds = ids.filter((_, i) => i % 2 === 1);
    const answeringIds = ids.filter((_, i) => i % 2 === 0);
    const pending = silentIds.flatMap((id) => [1, 2].map((k) => api.query(id.agentId, { query: `select 'pending ${k}'` }).then(record, () => undefined)));
    let stopping = false;
    const caller = async (n: number) => {
      for (let i = 0; !stopping; i++) {
        const target = answeringIds[(n + i) % answeringIds.length]!;
        try {
          record(await api.query(target.agentId, { query: `select ${n}, ${i}` }));
        } catch {
          return; // the hub is gone: connection refused or reset
        }
      }
    };
    const callers = Array.from({ length: 12 }, (_, n) => caller(n));
    await waitFor("some answers under load", () => seen.filter((s) => s.status === 200).length >= 50, { timeoutMs: 15_000 });
    await waitFor("commands pending on the silent agents", () => agents.filter((_, i) => i % 2 === 1).every((a) => a.queries.length === 2));

    const t0 = performance.now();
    const exit = hubs.stop(hub, 5_000);
    await hub.waitForLog("hub shutting down");
    const late = await RawAgent.connect(hub.agentUrl, { agentKey: ids[0]!.agentKey }).then(
      (a) => (void a.terminate(), "admitted"),
      (err: unknown) => (err instanceof UpgradeRefused ? err.status : "connection refused"),
    );
    stopping = true;
    expect((await exit).code, hub.stderr).toBe(0);
    expect(performance.now() - t0).toBeLessThan(5_000);
    await Promise.all([...callers, ...pending]);

    expect([503, "connection refused"]).toContain(late);
    for (const agent of agents) expect((await agent.closed).code).toBe(1001);
    const failed = seen.filter((s) => s.status !== 200);
    expect(failed.length).toBeGreaterThanOrEqual(silentIds.length * 2);
    for (const s of failed) expect(s, JSON.stringify(s)).toMatchObject({ status: 503, code: "hub_shutting_down" });
    expect(hub.logs.at(-1)).toMatchObject({ msg: "hub stopped" });

    // The store was flushed: every command a caller heard about is recorded with its final outcome.
    const again = await hubs.start({ dataDir: hub.dataDir, logLevel: "info" });
    const audit = new Map<string, string>();
    for (let before: number | null = null; ; ) {
      const page = await again.api.history({ limit: 500, ...(before === null ? {} : { before }) });
      for (const row of page.queries) audit.set(row.correlationId, row.status);
      if (page.nextBefore === null) break;
      before = page.nextBefore;
    }
    for (const s of seen.filter((x) => x.correlationId !== null)) {
      expect(audit.get(s.correlationId!), s.correlationId!).toBe(s.status === 200 ? "ok" : "error");
    }
  });
});
