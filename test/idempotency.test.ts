import { randomUUID } from "node:crypto";
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { useHubs, type HubProcess } from "./fixtures/hub-process.js";
import { uplink } from "./fixtures/process.js";
import { useRawAgents, type RawAgent } from "./fixtures/raw-agent.js";
import { waitFor } from "./fixtures/wait.js";
import type { AgentList, TokenList } from "../packages/protocol/dist/index.js";

const key = (value: string = randomUUID()) => ({ "idempotency-key": value });

/** Audit rows (one per command sent) whose query text is `query`. */
async function auditRowsOf(hub: HubProcess, query: string) {
  return (await hub.api.history({ limit: 500 })).queries.filter((q) => q.query === query);
}

/** Queries with text `query` an agent received. */
const received = (agent: RawAgent, query: string) => agent.queries.filter((c) => c.query === query);

/**
 * A small HTTP proxy in front of a hub that loses the answer to the first `POST /api/v1/queries`: it
 * forwards the request, lets the hub answer it in full, then closes the client's socket without a
 * response (a load balancer timing out, a connection reset on the way back). Everything else passes.
 */
class DroppingProxy {
  readonly server: Server;
  readonly posts: IncomingHttpHeaders[] = [];
  url = "";
  #dropped = false;

  constructor(target: string) {
    const upstream = new URL(target);
    this.server = createServer((req, res) => {
      const isFanout = req.method === "POST" && req.url === "/api/v1/queries";
      if (isFanout) this.posts.push(req.headers);
      const drop = isFanout && !this.#dropped;
      if (drop) this.#dropped = true;
      const forward = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        if (drop) {
          answer.resume();
          answer.on("end", () => req.socket.destroy());
          return;
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      forward.on("error", () => res.destroy());
      req.pipe(forward);
    });
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

describe("Idempotency-Key: retries are harmless", () => {
  const hubs = useHubs();
  const rawAgents = useRawAgents();
  const proxies: DroppingProxy[] = [];
  afterEach(async () => {
    await Promise.all(proxies.splice(0).map((p) => p.close()));
  });

  /** Two agents enrolled with label `group=<group>` that answer every query, on `hub`. */
  async function fleet(hub: HubProcess, group: string): Promise<RawAgent[]> {
    const agents: RawAgent[] = [];
    for (const n of [1, 2]) {
      const { agentId, agentKey } = await hub.api.enroll(`${group}-${n}`, { group });
      agents.push(await rawAgents.connect(hub.agentUrl, { hostname: `${group}-${n}`, agentKey, onQuery: (c, a) => a.respond(c) }));
      await waitFor(`agent ${agentId} online`, async () => (await hub.api.agent(agentId)).body.status === "online");
    }
    return agents;
  }

  it("starts one fan-out for the same POST sent twice in a row and five times at once; every caller reads the same id", async () => {
    const hub = await hubs.start();
    const agents = await fleet(hub, "fan");
    const targets = { labels: { group: "fan" } };

    const sequential = { query: "select 'sequential' as q", targets };
    const k1 = key();
    const first = await hub.api.post("/api/v1/queries", sequential, { headers: k1 });
    expect(first.status).toBe(202);
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    const second = await hub.api.post("/api/v1/queries", sequential, { headers: k1 });
    expect(second.status).toBe(202);
    expect(second.body).toEqual(first.body);
    expect(second.headers.get("location")).toBe(`/api/v1/queries/${first.body.id}`);
    expect(second.headers.get("idempotent-replayed")).toBe("true");

    const concurrent = { query: "select 'concurrent' as q", targets };
    const k2 = key();
    const answers = await Promise.all(Array.from({ length: 5 }, () => hub.api.post("/api/v1/queries", concurrent, { headers: k2 })));
    expect(answers.map((a) => a.status)).toEqual([202, 202, 202, 202, 202]);
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
    expect(answers.filter((a) => a.headers.get("idempotent-replayed") === "true")).toHaveLength(4);

    // Each agent got each query once, and the audit holds one command per target per fan-out.
    for (const query of [sequential.query, concurrent.query]) {
      await waitFor(`both agents answered ${query}`, () => agents.every((a) => received(a, query).length === 1));
      const rows = await auditRowsOf(hub, query);
      expect(rows).toHaveLength(2);
      expect(new Set(rows.map((r) => (r as unknown as { fanoutId: string }).fanoutId)).size).toBe(1);
    }
    for (const agent of agents) expect(agent.queries).toHaveLength(2);
    expect(await hub.api.metric("uplink_idempotent_replays_total")).toBe(5);
    expect(await hub.api.metric("uplink_fanouts_total")).toBe(2);
  });

  it("runs a single query replayed with its key on the agent once, writes one audit row, and gives every caller the same answer", async () => {
    const hub = await hubs.start();
    const { agent, agentId } = await rawAgents.enrolled(hub, "single");
    const body = { query: "select 'once' as q", timeoutMs: 10_000 };
    const k = key();
    const first = hub.api.query(agentId, body, { headers: k });
    const command = await agent.waitForQuery(body.query);
    // The repeat arrives while the first is still running: it waits for it rather than running again.
    const whileRunning = hub.api.query(agentId, body, { headers: k });
    await hub.waitForLog((l) => l.msg === "waiting for the request holding this Idempotency-Key" && l.idempotencyKey === k["idempotency-key"]);
    agent.respond(command);
    const [a, b] = await Promise.all([first, whileRunning]);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(b.body).toEqual(a.body);
    expect(b.correlationId).toBe(a.correlationId);
    expect(b.headers.get("idempotent-replayed")).toBe("true");
    const after = await hub.api.query(agentId, body, { headers: k });
    expect(after.text).toBe(a.text);
    expect(after.headers.get("idempotent-replayed")).toBe("true");

    expect(received(agent, body.query)).toHaveLength(1);
    const rows = await auditRowsOf(hub, body.query);
    expect(rows.map((r) => [r.correlationId, r.status])).toEqual([[a.correlationId, "ok"]]);
  });

  it("answers 422 idempotency_mismatch for a changed body or another token, and 400 naming the header for a bad key", async () => {
    const hub = await hubs.start();
    const k = key();
    const body = { query: "select 1", targets: { labels: { nobody: "matches" } } };
    expect((await hub.api.post("/api/v1/queries", body, { headers: k })).status).toBe(202);
    const changed = await hub.api.post("/api/v1/queries", { ...body, query: "select 2" }, { headers: k });
    expect(changed.status).toBe(422);
    expect(changed.body.error.code).toBe("idempotency_mismatch");
    const other = hub.api.as(await hub.api.createToken("api", "query", "other"));
    const otherToken = await other.post("/api/v1/queries", body, { headers: k });
    expect(otherToken.status).toBe(422);
    expect(otherToken.body.error.code).toBe("idempotency_mismatch");
    expect(await hub.api.metric("uplink_idempotency_mismatches_total", { reason: "body" })).toBe(1);
    expect(await hub.api.metric("uplink_idempotency_mismatches_total", { reason: "requester" })).toBe(1);

    const tooLong = await hub.api.post("/api/v1/queries", body, { headers: key("k".repeat(256)) });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error).toEqual({ code: "invalid_request", message: expect.stringContaining("Idempotency-Key") });
    expect(await hub.api.metric("uplink_fanouts_total")).toBe(1);
  });

  it("answers the stored response after a hub restart: the same fan-out id, the same token secret, nothing made twice", async () => {
    const first = await hubs.start();
    const fanoutBody = { query: "select 'restart' as q", targets: { labels: { nobody: "matches" } } };
    const tokenBody = { kind: "api", scope: "read", name: "made-once" };
    const kf = key();
    const kt = key();
    const fanout = await first.api.post("/api/v1/queries", fanoutBody, { headers: kf });
    const token = await first.api.post("/api/v1/tokens", tokenBody, { headers: kt });
    expect([fanout.status, token.status]).toEqual([202, 201]);
    expect((await hubs.stop(first)).code).toBe(0);

    const second = await hubs.start({ dataDir: first.dataDir });
    const fanoutAgain = await second.api.post("/api/v1/queries", fanoutBody, { headers: kf });
    const tokenAgain = await second.api.post("/api/v1/tokens", tokenBody, { headers: kt });
    expect(fanoutAgain.status).toBe(202);
    expect(fanoutAgain.body).toEqual(fanout.body);
    expect(fanoutAgain.headers.get("idempotent-replayed")).toBe("true");
    expect(tokenAgain.status).toBe(201);
    expect(tokenAgain.body.token).toBe(token.body.token);
    expect(tokenAgain.headers.get("idempotent-replayed")).toBe("true");
    const { tokens } = (await second.api.get("/api/v1/tokens")).body as TokenList;
    expect(tokens.filter((t) => t.name === "made-once")).toHaveLength(1);
    // The replayed token works.
    expect((await second.api.as(token.body.token).get("/api/v1/agents")).status).toBe(200);
  });

  it("enrolls once for an enrollment repeated with its key (the enrollment token is the requester)", async () => {
    const hub = await hubs.start();
    const enrollToken = await hub.api.createToken("enroll");
    const body = { token: enrollToken, hostname: "enrolled-once" };
    const k = key();
    const a = await hub.api.post("/api/v1/enroll", body, { token: null, headers: k });
    const b = await hub.api.post("/api/v1/enroll", body, { token: null, headers: k });
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(b.body).toEqual(a.body);
    expect(b.headers.get("idempotent-replayed")).toBe("true");
    const { agents } = (await hub.api.get("/api/v1/agents")).body as AgentList;
    expect(agents.filter((x) => x.hostname === "enrolled-once")).toHaveLength(1);
  });

  it("hands a reply the agent sends twice to its caller once; the second is dropped as an orphan", async () => {
    const hub = await hubs.start();
    const { agent, agentId } = await rawAgents.enrolled(hub, "twice");
    const call = hub.api.query(agentId, { query: "select 'twice'" });
    const command = await agent.waitForQuery("select 'twice'");
    agent.respond(command);
    agent.respond(command);
    const res = await call;
    expect(res.status).toBe(200);
    await hub.waitForLog((l) => l.msg === "orphan reply dropped" && l.correlationId === command.correlationId);
    expect(await hub.api.metric("uplink_orphan_replies_total")).toBe(1);
  });

  it("the CLI behind a proxy that loses the first answer retries with the same key and starts one fan-out", async () => {
    const hub = await hubs.start();
    const agents = await fleet(hub, "cli");
    const proxy = await new DroppingProxy(hub.url).listen();
    proxies.push(proxy);
    const query = "select 'through a flaky network' as q";
    const run = await uplink(["--hub", proxy.url, "--token", hub.api.token!, "--json", "query", "--label", "group=cli", query]);
    expect(run.code, run.stderr).toBe(0);
    // Two attempts reached the hub, with one key; the hub ran the first and replayed it to the second.
    expect(proxy.posts).toHaveLength(2);
    expect(proxy.posts[0]!["idempotency-key"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(proxy.posts[1]!["idempotency-key"]).toBe(proxy.posts[0]!["idempotency-key"]);
    expect(await hub.api.metric("uplink_fanouts_total")).toBe(1);
    expect(await hub.api.metric("uplink_idempotent_replays_total")).toBe(1);
    for (const agent of agents) expect(received(agent, query)).toHaveLength(1);
    const summary = run.stdout.trim().split("\n").map((l) => JSON.parse(l) as { type: string; counts?: { ok: number } }).find((l) => l.type === "summary");
    expect(summary?.counts?.ok).toBe(2);
  });
});
