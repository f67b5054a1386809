import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { agentBuilt, useAgentProcesses } from "./fixtures/agent-process.js";
import { enrollMany } from "./fixtures/hardening.js";
import type { ApiResponse, RequestOptions } from "./fixtures/http.js";
import { useHubs, useSharedHub, type HubProcess } from "./fixtures/hub-process.js";
import { uplinkHub } from "./fixtures/process.js";
import { healthResult, useRawAgents } from "./fixtures/raw-agent.js";
import { useSseClients } from "./fixtures/sse.js";
import { waitFor } from "./fixtures/wait.js";

/** A console build as the real one lays it out: index.html, hashed assets, each with .gz and .br siblings. */
const consoleDir = mkdtempSync(join(tmpdir(), "uplink-console-fixture-"));
const FILES: Record<string, string> = {
  "index.html": `<!doctype html><html><head><script type="module" src="/assets/index-3f2a9c.js"></script></head><body>${"<p>uplink</p>".repeat(200)}</body></html>`,
  "assets/index-3f2a9c.js": `export const fleet = ${JSON.stringify(Array.from({ length: 200 }, (_, i) => `row-${i}`))};`,
  "assets/index-9b1e07.css": `${"body { margin: 0 } ".repeat(100)}`,
};
mkdirSync(join(consoleDir, "assets"));
for (const [name, text] of Object.entries(FILES)) {
  writeFileSync(join(consoleDir, name), text);
  writeFileSync(join(consoleDir, `${name}.gz`), gzipSync(text));
  writeFileSync(join(consoleDir, `${name}.br`), brotliCompressSync(text));
}
// A file beside the console directory that no path may reach.
writeFileSync(join(consoleDir, "..", `${consoleDir.split("/").at(-1)}-secret.txt`), "TOP-SECRET-CONTENT");
afterAll(() => {
  rmSync(consoleDir, { recursive: true, force: true });
  rmSync(join(consoleDir, "..", `${consoleDir.split("/").at(-1)}-secret.txt`), { force: true });
});

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** A GET over a bare node:http request (the path sent byte for byte; no automatic decoding), whole body. */
function rawGet(hub: HubProcess, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: hub.port, path, headers: { connection: "close", ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** A signed-in console: its cookie (as a browser would send it back) and its CSRF token. */
interface Session {
  cookie: string;
  csrfToken: string;
  setCookie: string;
  body: { name: string; scope: string; csrfToken: string; expiresAt: string };
}

async function signIn(hub: HubProcess, token: string): Promise<Session> {
  const res = await hub.api.post("/api/v1/session", { token }, { token: null });
  if (res.status !== 201) throw new Error(`sign-in: ${res.status} ${res.text}`);
  const setCookie = res.headers.get("set-cookie")!;
  return { cookie: setCookie.split(";")[0]!, csrfToken: res.body.csrfToken, setCookie, body: res.body };
}

/** A REST call as the console makes it: the cookie, no bearer, and the CSRF header when `csrf` is given. */
function asConsole(hub: HubProcess, s: Session, method: string, path: string, opts: RequestOptions & { csrf?: string } = {}): Promise<ApiResponse> {
  const headers: Record<string, string> = { cookie: s.cookie, ...opts.headers };
  if (opts.csrf !== undefined) headers["x-csrf-token"] = opts.csrf;
  return hub.api.request(method, path, { ...opts, token: opts.token ?? null, headers });
}

describe("the web console's sessions, static files and API on one hub", () => {
  const hub = useSharedHub({ healthInterval: "100ms", args: ["--console-dir", consoleDir, "--presence-flush", "200ms"] });
  const raw = useRawAgents();
  const sse = useSseClients();

  it("signs in with an API token: 201 with the session, and an HttpOnly, SameSite=Strict cookie that GET /api/v1/session reads back", async () => {
    const token = await hub().api.createToken("api", "read", "console-reader");
    const s = await signIn(hub(), token);
    expect(s.body).toEqual({ name: "console-reader", scope: "read", csrfToken: expect.stringMatching(/^[\w-]{40,}$/), expiresAt: expect.any(String) });
    const ttl = Date.parse(s.body.expiresAt) - Date.now();
    expect(ttl).toBeGreaterThan(11.9 * 3_600_000);
    expect(ttl).toBeLessThanOrEqual(12 * 3_600_000);
    expect(s.cookie).toMatch(/^uplink_session=ses_[0-9a-f]{16}\.[\w-]{43}$/);
    const attributes = s.setCookie.split(";").map((a) => a.trim()).slice(1);
    expect(attributes).toEqual(["HttpOnly", "SameSite=Strict", "Path=/", expect.stringMatching(/^Max-Age=4319[0-9]$|^Max-Age=43200$/)]);

    const again = await asConsole(hub(), s, "GET", "/api/v1/session");
    expect([again.status, again.body]).toEqual([200, s.body]);
    const none = await hub().api.get("/api/v1/session", { token: null });
    expect([none.status, none.body.error.code]).toEqual([401, "unauthorized"]);
    // A cookie with a wrong secret is no session.
    const forged = await asConsole(hub(), { ...s, cookie: `${s.cookie.slice(0, -3)}AAA` }, "GET", "/api/v1/session");
    expect(forged.status).toBe(401);

    // Neither the API token nor the cookie's secret nor the CSRF token is ever logged (the hub writes its
    // log lines out every 100 ms: read once the sign-in's line is out).
    await hub().waitForLog("console session opened");
    const logged = JSON.stringify(hub().logs) + hub().stderr;
    for (const secret of [token.split(".")[1]!, s.cookie.split(".")[1]!, s.csrfToken]) expect(logged.includes(secret)).toBe(false);
  });

  it("refuses a sign-in with a bad, an enrollment or a revoked token, with bearer authentication's message", async () => {
    const bearer = await hub().api.get("/api/v1/agents", { token: "tok_nope.secret" });
    const enroll = await hub().api.createToken("enroll");
    const revoked = await hub().api.createToken("api", "admin", "to-revoke");
    const id = revoked.split(".")[0]!;
    expect((await hub().api.delete(`/api/v1/tokens/${id}`)).status).toBe(204);
    for (const token of ["tok_nope.secret", "garbage", enroll, revoked]) {
      const res = await hub().api.post("/api/v1/session", { token }, { token: null });
      expect([token, res.status, res.body.error]).toEqual([token, 401, bearer.body.error]);
      expect(res.headers.get("set-cookie")).toBeNull();
    }
  });

  it("takes the cookie instead of a bearer token on GET routes and on the event stream; a bearer header wins", async () => {
    const s = await signIn(hub(), await hub().api.createToken("api", "read"));
    const list = await asConsole(hub(), s, "GET", "/api/v1/agents");
    expect(list.status).toBe(200);
    expect(Array.isArray(list.body.agents)).toBe(true);

    const stream = await sse.open(hub().url, "/api/v1/events", { token: null, headers: { cookie: s.cookie } });
    expect(stream.status).toBe(200);
    const { agentId } = await raw.enrolled(hub(), "sse-cookie-host");
    await stream.waitForEvent("agent.connected", (e) => e.event === "agent.connected" && e.json.agentId === agentId);

    // The Authorization header decides when both are sent: a bad bearer is refused whatever the cookie.
    const both = await asConsole(hub(), s, "GET", "/api/v1/agents", { token: "tok_nope.secret" });
    expect(both.status).toBe(401);
    const refused = await sse.open(hub().url, "/api/v1/events", { token: null, headers: { cookie: "uplink_session=ses_0000000000000000.nope" } });
    expect(refused.status).toBe(401);
  });

  it("needs X-CSRF-Token on every state-changing request made with the cookie (403 csrf_failed), never with a bearer token", async () => {
    const s = await signIn(hub(), await hub().api.createToken("api", "admin", "console-admin"));
    const body = { json: { kind: "api", scope: "read", name: "made-by-console" } };
    const without = await asConsole(hub(), s, "POST", "/api/v1/tokens", body);
    expect([without.status, without.body.error.code]).toEqual([403, "csrf_failed"]);
    const wrong = await asConsole(hub(), s, "POST", "/api/v1/tokens", { ...body, csrf: `${s.csrfToken.slice(1)}x` });
    expect([wrong.status, wrong.body.error.code]).toEqual([403, "csrf_failed"]);
    const other = await signIn(hub(), await hub().api.createToken("api", "admin"));
    const crossed = await asConsole(hub(), s, "POST", "/api/v1/tokens", { ...body, csrf: other.csrfToken });
    expect([crossed.status, crossed.body.error.code]).toEqual([403, "csrf_failed"]);
    const made = await asConsole(hub(), s, "POST", "/api/v1/tokens", { ...body, csrf: s.csrfToken });
    expect([made.status, made.body.name]).toEqual([201, "made-by-console"]);
    const revoke = await asConsole(hub(), s, "DELETE", `/api/v1/tokens/${made.body.id}`);
    expect([revoke.status, revoke.body.error.code]).toEqual([403, "csrf_failed"]);
    expect((await asConsole(hub(), s, "DELETE", `/api/v1/tokens/${made.body.id}`, { csrf: s.csrfToken })).status).toBe(204);
    // An Idempotency-Key made with the cookie is the session's: the repeat replays the first answer.
    const keyed = { json: { kind: "api", scope: "read", name: "keyed-by-console" }, csrf: s.csrfToken, headers: { "idempotency-key": "console-key-1" } };
    const first = await asConsole(hub(), s, "POST", "/api/v1/tokens", keyed);
    const repeat = await asConsole(hub(), s, "POST", "/api/v1/tokens", keyed);
    expect([first.status, repeat.status, repeat.body.id, repeat.headers.get("idempotent-replayed")]).toEqual([201, 201, first.body.id, "true"]);
    const elsewhere = await asConsole(hub(), other, "POST", "/api/v1/tokens", { ...keyed, csrf: other.csrfToken });
    expect([elsewhere.status, elsewhere.body.error.code]).toEqual([422, "idempotency_mismatch"]);
    // The CLI's bearer calls are unchanged.
    expect((await hub().api.post("/api/v1/tokens", body.json)).status).toBe(201);
  });

  it("gives a session its token's scope: a read session cannot run a query (403), a query session can, with its CSRF token", async () => {
    const { agent, agentId } = await raw.enrolled(hub(), "console-query-host");
    agent.onQuery = (command) => agent.respond(command);
    const reader = await signIn(hub(), await hub().api.createToken("api", "read"));
    const refused = await asConsole(hub(), reader, "POST", `/api/v1/agents/${agentId}/query`, { json: { query: "select 1" }, csrf: reader.csrfToken });
    expect([refused.status, refused.body.error.code]).toEqual([403, "forbidden"]);
    const querier = await signIn(hub(), await hub().api.createToken("api", "query", "console-querier"));
    const ran = await asConsole(hub(), querier, "POST", `/api/v1/agents/${agentId}/query`, { json: { query: "select 1" }, csrf: querier.csrfToken });
    expect(ran.status).toBe(200);
    expect((await hub().api.auditRow(ran.body.correlationId))?.requester).toBe("console-querier");
  });

  it("signs out: 204, the cookie cleared, the session gone; without the CSRF token the session stays", async () => {
    const s = await signIn(hub(), await hub().api.createToken("api", "read"));
    const refused = await asConsole(hub(), s, "DELETE", "/api/v1/session");
    expect([refused.status, refused.body.error.code]).toEqual([403, "csrf_failed"]);
    expect((await asConsole(hub(), s, "GET", "/api/v1/session")).status).toBe(200);
    const out = await asConsole(hub(), s, "DELETE", "/api/v1/session", { csrf: s.csrfToken });
    expect(out.status).toBe(204);
    expect(out.headers.get("set-cookie")).toBe("uplink_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    expect((await asConsole(hub(), s, "GET", "/api/v1/session")).status).toBe(401);
    expect((await asConsole(hub(), s, "GET", "/api/v1/agents")).status).toBe(401);
    // Signing out again (or without a session) only clears the cookie.
    expect((await asConsole(hub(), s, "DELETE", "/api/v1/session")).status).toBe(204);
  });

  it("ends a token's sessions at once when the token is revoked", async () => {
    const token = await hub().api.createToken("api", "read", "revoked-with-sessions");
    const s = await signIn(hub(), token);
    const t = await signIn(hub(), token);
    expect((await asConsole(hub(), s, "GET", "/api/v1/agents")).status).toBe(200);
    expect((await hub().api.delete(`/api/v1/tokens/${token.split(".")[0]}`)).status).toBe(204);
    for (const session of [s, t]) {
      expect((await asConsole(hub(), session, "GET", "/api/v1/agents")).status).toBe(401);
      expect((await asConsole(hub(), session, "GET", "/api/v1/session")).status).toBe(401);
    }
  });

  it("ends a token's sessions within the token cache's 5 s when `uplink-hub token revoke` revokes it beside the hub", async () => {
    const token = await hub().api.createToken("api", "read", "revoked-on-disk");
    const s = await signIn(hub(), token);
    expect((await asConsole(hub(), s, "GET", "/api/v1/agents")).status).toBe(200);
    const revoke = await uplinkHub(["token", "revoke", token.split(".")[0]!, "--data-dir", hub().dataDir]);
    expect(revoke.code).toBe(0);
    await waitFor("the session refused", async () => (await asConsole(hub(), s, "GET", "/api/v1/agents")).status === 401, { timeoutMs: 8_000 });
    expect((await asConsole(hub(), s, "GET", "/api/v1/session")).status).toBe(401);
  });

  it("serves the console page and its assets in the best coding asked for, with their content types, caching and security headers", async () => {
    const cases = [
      { path: "/", file: "index.html", type: "text/html; charset=utf-8", cache: "no-cache" },
      { path: "/assets/index-3f2a9c.js", file: "assets/index-3f2a9c.js", type: "text/javascript; charset=utf-8", cache: "public, max-age=31536000, immutable" },
      { path: "/assets/index-9b1e07.css", file: "assets/index-9b1e07.css", type: "text/css; charset=utf-8", cache: "public, max-age=31536000, immutable" },
    ];
    for (const c of cases) {
      const text = FILES[c.file]!;
      const codings = [
        { accept: "gzip, deflate, br", coding: "br", decode: (b: Buffer) => brotliDecompressSync(b).toString() },
        { accept: "gzip", coding: "gzip", decode: (b: Buffer) => gunzipSync(b).toString() },
        { accept: "br;q=0, gzip;q=0.5", coding: "gzip", decode: (b: Buffer) => gunzipSync(b).toString() },
        { accept: "identity", coding: undefined, decode: (b: Buffer) => b.toString() },
        { accept: undefined, coding: undefined, decode: (b: Buffer) => b.toString() },
      ];
      for (const k of codings) {
        const res = await rawGet(hub(), c.path, k.accept === undefined ? {} : { "accept-encoding": k.accept });
        expect([c.path, k.accept, res.status]).toEqual([c.path, k.accept, 200]);
        expect(res.headers["content-encoding"]).toBe(k.coding);
        expect(k.decode(res.body)).toBe(text);
        expect(Number(res.headers["content-length"])).toBe(res.body.length);
        expect(res.headers).toMatchObject({
          "content-type": c.type,
          "cache-control": c.cache,
          vary: "Accept-Encoding",
          "content-security-policy": CSP,
          "x-content-type-options": "nosniff",
          "referrer-policy": "no-referrer",
          "x-frame-options": "DENY",
        });
      }
    }
  });

  it("answers 404 for anything of the console directory but its page and assets: no traversal, no encoded siblings, no other routes", async () => {
    const secret = `${consoleDir.split("/").at(-1)}-secret.txt`;
    for (const path of [
      "/index.html",
      "/fleet",
      "/agents/agt_1",
      "/assets/",
      "/assets/missing-000000.js",
      "/assets/index-3f2a9c.js.gz",
      "/assets/index-3f2a9c.js.br",
      "/assets/../index.html",
      `/assets/..%2f..%2f${secret}`,
      `/assets/%2e%2e%2f%2e%2e%2f${secret}`,
      `/assets/..%5c..%5c${secret}`,
      "/assets/.hidden",
      "/assets/sub/index-3f2a9c.js",
      `/../${secret}`,
    ]) {
      const res = await rawGet(hub(), path);
      expect([path, res.status]).toEqual([path, 404]);
      expect(res.body.toString()).not.toContain("TOP-SECRET-CONTENT");
      expect(JSON.parse(res.body.toString()).error.code).toBe("not_found");
    }
  });

  it("keeps each agent's recent health samples, one per presence flush, oldest first (GET /api/v1/agents/:id/health)", async () => {
    const { agentId } = await raw.enrolled(hub(), "health-samples-host");
    const samples = await waitFor("three health samples", async () => {
      const res = await hub().api.get(`/api/v1/agents/${agentId}/health`);
      return res.status === 200 && res.body.samples.length >= 3 && res.body.samples;
    });
    const expected = healthResult();
    for (const sample of samples) {
      expect(sample).toEqual({ at: expect.any(String), status: "ok", load1: expected.load1, memFreeBytes: expected.memFreeBytes, memTotalBytes: expected.memTotalBytes, inflight: 0 });
    }
    const times = samples.map((x: { at: string }) => Date.parse(x.at));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(new Set(times).size).toBe(times.length);
    const unknown = await hub().api.get("/api/v1/agents/agt_0000000000000000/health");
    expect([unknown.status, unknown.body.error.code]).toEqual([404, "not_found"]);
    expect((await hub().api.get(`/api/v1/agents/${agentId}/health`, { token: null })).status).toBe(401);
  });

  it("filters the history by status beside agentId", async () => {
    const { agent, agentId } = await raw.enrolled(hub(), "history-status-host");
    agent.onQuery = (command) =>
      command.query === "select 'fail'" ? agent.respond(command, { ok: false, code: "query_failed", error: "no such table" }) : agent.respond(command);
    expect((await hub().api.query(agentId, { query: "select 'ok'" })).status).toBe(200);
    expect((await hub().api.query(agentId, { query: "select 'fail'" })).status).toBe(502);
    const errors = await hub().api.history({ agentId, status: "error" });
    expect(errors.queries.map((q) => q.query)).toEqual(["select 'fail'"]);
    const ok = await hub().api.history({ agentId, status: "ok" });
    expect(ok.queries.map((q) => q.query)).toEqual(["select 'ok'"]);
    expect((await hub().api.history({ status: "ok" })).queries.every((q) => q.status === "ok")).toBe(true);
    const bad = await hub().api.get("/api/v1/queries?status=finished");
    expect([bad.status, bad.body.error.code]).toEqual([400, "invalid_request"]);
  });
});

describe("the web console on hubs of their own", () => {
  const hubs = useHubs();
  const agents = useAgentProcesses();
  const raw = useRawAgents();

  it("answers GET / with 404 saying to run pnpm build when the console is not built, and serves it once built", async () => {
    const dir = await hubs.tempDir();
    const hub = await hubs.start({ args: ["--console-dir", join(dir, "console")] });
    for (const path of ["/", "/assets/index-3f2a9c.js"]) {
      const res = await rawGet(hub, path);
      expect([path, res.status]).toEqual([path, 404]);
    }
    const page = JSON.parse((await rawGet(hub, "/")).body.toString());
    expect(page.error).toEqual({ code: "not_found", message: expect.stringContaining("pnpm build") });
    // The REST API is served all the same.
    expect((await hub.api.get("/api/v1/agents")).status).toBe(200);
    // Built while the hub runs: served at once, and a rebuilt page at once too (assets keep their names).
    mkdirSync(join(dir, "console"));
    writeFileSync(join(dir, "console", "index.html"), "<!doctype html><p>first build</p>");
    expect((await rawGet(hub, "/")).body.toString()).toBe("<!doctype html><p>first build</p>");
    writeFileSync(join(dir, "console", "index.html"), "<!doctype html><p>second build</p>");
    const rebuilt = await rawGet(hub, "/", { "accept-encoding": "br, gzip" });
    expect([rebuilt.status, rebuilt.headers["content-encoding"], rebuilt.body.toString()]).toEqual([200, undefined, "<!doctype html><p>second build</p>"]);
  });

  it("ends a session after --session-ttl, and the pruner drops it", async () => {
    const hub = await hubs.start({ args: ["--session-ttl", "2s", "--prune-interval", "300ms"] });
    const s = await signIn(hub, await hub.api.createToken("api", "read"));
    expect(s.setCookie).toMatch(/; Max-Age=[12]$/);
    expect(Date.parse(s.body.expiresAt) - Date.now()).toBeLessThanOrEqual(2_000);
    expect((await asConsole(hub, s, "GET", "/api/v1/agents")).status).toBe(200);
    await waitFor("the session to expire", async () => (await asConsole(hub, s, "GET", "/api/v1/session")).status === 401);
    expect((await asConsole(hub, s, "GET", "/api/v1/agents")).status).toBe(401);
    await waitFor("the expired session pruned", async () => (await hub.api.metric("uplink_pruned_rows_total", { table: "sessions" })) === 1);
  });

  it("rate-limits failed sign-ins per address like enrollments (429 with Retry-After), never successful ones", async () => {
    const hub = await hubs.start({ args: ["--enroll-rate", "3"] });
    const good = await hub.api.createToken("api", "read");
    // Successes do not count against the address.
    for (let i = 0; i < 5; i++) await signIn(hub, good);
    for (let i = 0; i < 3; i++) expect((await hub.api.post("/api/v1/session", { token: `tok_guess${i}.nope` }, { token: null })).status).toBe(401);
    for (const token of ["tok_guess.again", good]) {
      const res = await hub.api.post("/api/v1/session", { token }, { token: null });
      expect([res.status, res.body.error.code]).toEqual([429, "rate_limited"]);
      expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    }
  });

  it("sends JSON answers of 16 KiB or more gzip-compressed to a GET that accepts it; small answers as they are", async () => {
    const hub = await hubs.start({ args: ["--enroll-rate", "1000"] });
    await enrollMany(hub.api, 60, "gzip-host");
    const auth = { authorization: `Bearer ${hub.adminToken}` };
    const zipped = await rawGet(hub, "/api/v1/agents", { ...auth, "accept-encoding": "gzip, deflate, br" });
    expect([zipped.status, zipped.headers["content-encoding"], zipped.headers.vary]).toEqual([200, "gzip", "Accept-Encoding"]);
    const text = gunzipSync(zipped.body).toString();
    expect(text.length).toBeGreaterThanOrEqual(16 * 1024);
    expect(JSON.parse(text).agents).toHaveLength(60);
    expect(zipped.body.length).toBeLessThan(text.length / 4);

    const plain = await rawGet(hub, "/api/v1/agents", auth);
    expect([plain.headers["content-encoding"], plain.body.toString()]).toEqual([undefined, text]);
    const refused = await rawGet(hub, "/api/v1/agents", { ...auth, "accept-encoding": "gzip;q=0" });
    expect(refused.headers["content-encoding"]).toBeUndefined();
    const one = JSON.parse(text).agents[0].id as string;
    const small = await rawGet(hub, `/api/v1/agents/${one}`, { ...auth, "accept-encoding": "gzip" });
    expect([small.status, small.headers["content-encoding"], JSON.parse(small.body.toString()).id]).toEqual([200, undefined, one]);
  });

  it.runIf(agentBuilt())("learns the host tables' schema from a real agent, once per agent version; 409 while no agent is online", async () => {
    const hub = await hubs.start();
    const querier = await hub.api.createToken("api", "query");
    const none = await hub.api.get("/api/v1/schema", { token: querier });
    expect([none.status, none.body.error.code]).toEqual([409, "agent_offline"]);
    const reader = await hub.api.get("/api/v1/schema", { token: await hub.api.createToken("api", "read") });
    expect(reader.status).toBe(403);

    const state = await agents.statePath();
    const enrolled = await agents.enroll({ hub: hub.url, token: await hub.api.createToken("enroll"), state });
    expect(enrolled.code).toBe(0);
    agents.run({ state });
    const agent = await waitFor("the agent online", async () => (await hub.api.get("/api/v1/agents")).body.agents.find((a: { status: string; agentVersion: string | null }) => a.status === "online" && a.agentVersion !== null));

    const learned = await hub.api.get("/api/v1/schema", { token: querier });
    expect(learned.status).toBe(200);
    expect(learned.body).toMatchObject({ agentId: agent.id, agentVersion: agent.agentVersion });
    const tables = new Map<string, string[]>(learned.body.tables.map((t: { name: string; columns: { name: string }[] }) => [t.name, t.columns.map((c) => c.name)]));
    expect(tables.get("processes")).toEqual(expect.arrayContaining(["pid", "name", "cmdline"]));
    expect(tables.get("os_version")).toEqual(expect.arrayContaining(["name", "version"]));
    expect(tables.size).toBeGreaterThan(30);

    // Kept per version: asked again, by default or for this agent, the agent is not asked again.
    expect((await hub.api.get("/api/v1/schema", { token: querier })).body).toEqual(learned.body);
    expect((await hub.api.get(`/api/v1/schema?agentId=${agent.id}`, { token: querier })).body).toEqual(learned.body);
    expect(await hub.waitForLog("schema learned")).toMatchObject({ agentId: agent.id, agentVersion: agent.agentVersion });
    expect(hub.logsMatching("schema learned")).toHaveLength(1);
    const unknown = await hub.api.get("/api/v1/schema?agentId=agt_0000000000000000", { token: querier });
    expect([unknown.status, unknown.body.error.code]).toEqual([404, "not_found"]);
    // The introspection query is the hub's own: not in the operators' history.
    expect((await hub.api.history()).queries).toEqual([]);
  });

  it("learns the schema from an online agent of the newest version, on the hub's reserved session", async () => {
    const hub = await hubs.start();
    const querier = await hub.api.createToken("api", "query");
    const versions = ["1.9.0", "1.10.0", "1.2.0"];
    const connected = [];
    for (const version of versions) {
      const { agentId, agentKey } = await hub.api.enroll(`schema-${version}`);
      const agent = await raw.connect(hub.agentUrl, { agentKey, hello: false });
      agent.send({ type: "hello", protocol: 2, agentVersion: version, hostname: `schema-${version}`, platform: "linux", arch: "x64", labels: {}, capabilities: ["correlation-id"] });
      agent.onQuery = (command) =>
        agent.respond(command, { ok: true, result: { columns: ["tbl", "col", "type"], rows: [["t", "a", "TEXT"], ["t", "b", ""], [`only_${version}`, "x", "INTEGER"]], rowCount: 3, truncated: false } });
      connected.push({ agentId, agent, version });
      await waitFor(`${agentId} online with its version`, async () => (await hub.api.agent(agentId)).body.agentVersion === version);
    }
    const res = await hub.api.get("/api/v1/schema", { token: querier });
    const newest = connected[1]!;
    expect(res.body).toEqual({
      agentId: newest.agentId,
      agentVersion: "1.10.0",
      tables: [
        { name: "t", columns: [{ name: "a", type: "TEXT" }, { name: "b", type: "" }] },
        { name: "only_1.10.0", columns: [{ name: "x", type: "INTEGER" }] },
      ],
    });
    const asked = newest.agent.frames.filter((f) => f.type === "session_command" && f.kind === "query");
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatchObject({ sessionId: "uplink-schema" });
    for (const other of [connected[0]!, connected[2]!]) expect(other.agent.frames.some((f) => f.type === "session_command" && f.kind === "query")).toBe(false);
    // An agent of another version named explicitly is asked for its own.
    const older = await hub.api.get(`/api/v1/schema?agentId=${connected[0]!.agentId}`, { token: querier });
    expect([older.body.agentVersion, older.body.tables.at(-1).name]).toEqual(["1.9.0", "only_1.9.0"]);
  });
});
