import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { AgentAnsweredError, AgentBusyError } from "../errors.js";
import { HubMetrics } from "../metrics.js";
import { createToken } from "../security/tokens.js";
import { SqliteStore } from "../store/sqlite-store.js";
import { Sessions } from "../security/sessions.js";
import { Authenticator } from "./auth.js";
import { readJson, sendJson } from "./http.js";
import { Idempotency } from "./idempotency.js";
import type { Route } from "./route.js";
import { createRequestListener } from "./router.js";

const Body = z.object({ n: z.number().int() }).strict();

/** An in-process API with a few POST routes, each counting how often its handler really ran. */
async function startApi(retentionMs = 60_000) {
  const store = new SqliteStore(":memory:");
  const metrics = new HubMetrics();
  const log = pino({ level: "silent" });
  const idempotency = new Idempotency({ store, metrics, log, hubId: "hub_test", retentionMs, embedded: true });
  await idempotency.start();
  const ran: Record<string, number> = { work: 0, slow: 0, flaky: 0, agent: 0, strict: 0 };
  let releaseSlow: () => void = () => {};
  /** The deadline of a request to /slow: how long a repeat of it waits for the first. */
  const slow = { waitMs: 10_000 };
  const slowGate = new Promise<void>((resolve) => (releaseSlow = resolve));
  const routes: Route[] = [
    {
      method: "POST",
      path: "/work",
      scope: "query",
      async handle({ req, res }) {
        const body = await readJson(req, z.unknown(), 1024 * 1024);
        sendJson(res, 201, { run: ++ran.work!, body }, { Location: `/work/${ran.work}` });
      },
    },
    {
      method: "POST",
      path: "/slow",
      scope: "query",
      idempotency: { waitMs: () => slow.waitMs },
      async handle({ res }) {
        ran.slow!++;
        await slowGate;
        sendJson(res, 200, { run: ran.slow });
      },
    },
    {
      method: "POST",
      path: "/flaky",
      scope: "query",
      async handle({ res }) {
        if (++ran.flaky! === 1) throw new AgentBusyError("busy for now");
        sendJson(res, 200, { run: ran.flaky });
      },
    },
    {
      method: "POST",
      path: "/agent",
      scope: "query",
      async handle() {
        ran.agent!++;
        throw new AgentAnsweredError("query_failed", "no such table: nope");
      },
    },
    {
      method: "POST",
      path: "/strict",
      scope: "query",
      async handle({ req, res }) {
        const body = await readJson(req, Body, 1024);
        sendJson(res, 201, { run: ++ran.strict!, n: body.n });
      },
    },
  ];
  const auth = new Authenticator(store, new Sessions(store, 60_000));
  const server: Server = createServer(createRequestListener(routes.map((r) => idempotency.wrap(r)), { auth, log }));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const tokenA = (await createToken(store, { kind: "api", scope: "query", name: "a" })).token;
  const tokenB = (await createToken(store, { kind: "api", scope: "query", name: "b" })).token;
  const post = async (path: string, body: string | object, headers: Record<string, string> = {}, token = tokenA) => {
    const res = await fetch(`${base}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, body: text.length > 0 ? (JSON.parse(text) as any) : undefined };
  };
  return {
    store, metrics, ran, post, tokenB, slow, releaseSlow,
    close: async () => {
      releaseSlow();
      idempotency.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.close();
    },
  };
}

type Api = Awaited<ReturnType<typeof startApi>>;
const metric = async (api: Api, name: string) => (await api.metrics.registry.getSingleMetric(name)!.get()).values.reduce((sum, v) => sum + v.value, 0);

describe("Idempotency", () => {
  let api: Api;
  beforeEach(async () => {
    api = await startApi();
  });
  afterEach(async () => {
    await api.close();
  });

  it("runs the first request with a key and answers a repeat with the stored response, marked replayed", async () => {
    const key = { "Idempotency-Key": "key-1" };
    const first = await api.post("/work", { a: 1, b: [1, 2] }, key);
    expect(first.status).toBe(201);
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    // The same JSON with its keys in another order and other whitespace is the same request.
    const again = await api.post("/work", '{ "b": [1, 2], "a": 1 }', key);
    expect(again.status).toBe(201);
    expect(again.text).toBe(first.text);
    expect(again.headers.get("location")).toBe("/work/1");
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(api.ran.work).toBe(1);
    expect(await metric(api, "uplink_idempotent_replays_total")).toBe(1);
    // Without a key every request runs.
    await api.post("/work", { a: 1 });
    await api.post("/work", { a: 1 });
    expect(api.ran.work).toBe(3);
  });

  it("answers 422 idempotency_mismatch for the same key with another body, path or token", async () => {
    const key = { "Idempotency-Key": "key-2" };
    expect((await api.post("/work", { a: 1 }, key)).status).toBe(201);
    const otherBody = await api.post("/work", { a: 2 }, key);
    expect(otherBody.status).toBe(422);
    expect(otherBody.body.error).toEqual({ code: "idempotency_mismatch", message: expect.stringContaining("another method, path or body") });
    expect((await api.post("/flaky", { a: 1 }, key)).status).toBe(422);
    const otherToken = await api.post("/work", { a: 1 }, key, api.tokenB);
    expect(otherToken.status).toBe(422);
    expect(otherToken.body.error.message).toContain("another token");
    expect(api.ran.work).toBe(1);
    expect(await metric(api, "uplink_idempotency_mismatches_total")).toBe(3);
  });

  it("answers 400 naming the header for an empty, over-long or non-visible-ASCII key", async () => {
    for (const bad of ["", "k".repeat(256), "tab\there", "caf\u00e9"]) {
      const res = await api.post("/work", { a: 1 }, { "Idempotency-Key": bad });
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(res.body.error).toEqual({ code: "invalid_request", message: expect.stringContaining("Idempotency-Key") });
    }
    expect((await api.post("/work", { a: 1 }, { "Idempotency-Key": "k".repeat(255) })).status).toBe(201);
    expect(api.ran.work).toBe(1);
  });

  it("makes a concurrent repeat wait for the first and answer its response; past its own deadline it answers 409", async () => {
    const key = { "Idempotency-Key": "key-slow" };
    const first = api.post("/slow", {}, key);
    while (api.ran.slow === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    // A repeat whose deadline has passed cannot wait: 409 at once.
    api.slow.waitMs = 0;
    const impatient = await api.post("/slow", {}, key);
    expect(impatient.status).toBe(409);
    expect(impatient.body.error).toEqual({ code: "idempotency_in_progress", message: expect.stringContaining("still running") });
    api.slow.waitMs = 10_000;
    const waiting = api.post("/slow", {}, key);
    api.releaseSlow();
    const [a, b] = await Promise.all([first, waiting]);
    expect(a.status).toBe(200);
    expect(b.status).toBe(200);
    expect(b.text).toBe(a.text);
    expect(b.headers.get("idempotent-replayed")).toBe("true");
    expect(api.ran.slow).toBe(1);
  });

  it("does not keep a transient failure (503): a retry with the same key runs again; keeps the agent's own 502", async () => {
    const key = { "Idempotency-Key": "key-flaky" };
    expect((await api.post("/flaky", {}, key)).status).toBe(503);
    const retry = await api.post("/flaky", {}, key);
    expect(retry.status).toBe(200);
    expect(retry.headers.get("idempotent-replayed")).toBeNull();
    expect((await api.post("/flaky", {}, key)).headers.get("idempotent-replayed")).toBe("true");
    expect(api.ran.flaky).toBe(2);

    const agentKey = { "Idempotency-Key": "key-agent" };
    const failed = await api.post("/agent", {}, agentKey);
    expect(failed.status).toBe(502);
    const replayed = await api.post("/agent", {}, agentKey);
    expect(replayed.status).toBe(502);
    expect(replayed.body.error.code).toBe("query_failed");
    expect(replayed.headers.get("idempotent-replayed")).toBe("true");
    expect(api.ran.agent).toBe(1);
  });

  it("does not keep a refusal before any work (400): the corrected request with the same key runs", async () => {
    const key = { "Idempotency-Key": "key-strict" };
    expect((await api.post("/strict", { n: "one" }, key)).status).toBe(400);
    const fixed = await api.post("/strict", { n: 1 }, key);
    expect(fixed.status).toBe(201);
    expect(fixed.body).toEqual({ run: 1, n: 1 });
  });

  it("stores the response sealed, never in clear", async () => {
    await api.post("/work", { secret: "shown-once-value" }, { "Idempotency-Key": "key-sealed" });
    const record = await api.store.findIdempotencyKey("key-sealed");
    expect(record).toMatchObject({ state: "done", requester: expect.stringMatching(/^tok_/) });
    expect(record!.response).not.toContain("shown-once-value");
    expect(Buffer.from(record!.response!.split(".")[3]!, "base64").toString("utf8")).not.toContain("shown-once-value");
  });
});

describe("Idempotency retention", () => {
  it("runs a request again once its key's retention has passed", async () => {
    const api = await startApi(1);
    try {
      const key = { "Idempotency-Key": "key-short" };
      await api.post("/work", {}, key);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const again = await api.post("/work", {}, key);
      expect(again.headers.get("idempotent-replayed")).toBeNull();
      expect(api.ran.work).toBe(2);
    } finally {
      await api.close();
    }
  });
});

describe("Idempotency start-up", () => {
  it("with the embedded store, drops the claims a previous process left running (its requests died with it)", async () => {
    const store = new SqliteStore(":memory:");
    try {
      const now = Date.now();
      await store.claimIdempotencyKey({ key: "left-running", requester: "tok_x", fingerprint: "f", owner: "hub_old:1", createdAt: now, expiresAt: now + 60_000 }, now);
      await store.claimIdempotencyKey({ key: "finished", requester: "tok_x", fingerprint: "f", owner: "hub_old:2", createdAt: now, expiresAt: now + 60_000 }, now);
      await store.completeIdempotencyKey("finished", "hub_old:2", "sealed", now + 60_000);
      const idempotency = new Idempotency({ store, metrics: new HubMetrics(), log: pino({ level: "silent" }), hubId: "hub_new", retentionMs: 60_000, embedded: true });
      await idempotency.start();
      idempotency.stop();
      expect(await store.findIdempotencyKey("left-running")).toBeUndefined();
      expect(await store.findIdempotencyKey("finished")).toMatchObject({ state: "done" });
    } finally {
      await store.close();
    }
  });
});
