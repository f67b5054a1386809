import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { secretMatches } from "../packages/hub/src/security/credentials.js";
import { enrollMany, rawHttp } from "./fixtures/hardening.js";
import type { ErrorBody } from "./fixtures/http.js";
import { useHubs, useSharedHub } from "./fixtures/hub-process.js";
import { useRawAgents } from "./fixtures/raw-agent.js";
import { waitFor } from "./fixtures/wait.js";
import type { EnrollResponse } from "../packages/protocol/dist/index.js";

// Spy on the comparison primitive, keeping its behaviour.
vi.mock("node:crypto", async (importOriginal) => {
  const crypto = await importOriginal<typeof import("node:crypto")>();
  return { ...crypto, timingSafeEqual: vi.fn(crypto.timingSafeEqual) };
});
const { timingSafeEqual } = await import("node:crypto");

/** POSTs `body` from a given local address (127.0.0.x are all this host), without keep-alive. */
function postFrom(localAddress: string, port: number, path: string, body: string, headers: Record<string, string> = { "content-type": "application/json" }): Promise<{ status: number; headers: Record<string, unknown>; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method: "POST", localAddress, agent: false, headers: { ...headers, "content-length": Buffer.byteLength(body) } }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (c: string) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : undefined }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("Hostile input", () => {
  const shared = useSharedHub({ logLevel: "info", args: ["--enroll-rate", "5"] });
  const hubs = useHubs();
  const rawAgents = useRawAgents();

  it("limits enrollment attempts per client address: the 6th in a minute is 429 with Retry-After, another address is unaffected", async () => {
    const hub = shared();
    const token = await hub.api.createToken("enroll");
    const attempt = (from: string) => postFrom(from, hub.port, "/api/v1/enroll", JSON.stringify({ token, hostname: `from-${from}` }));
    for (let i = 0; i < 5; i++) expect((await attempt("127.0.0.1")).status).toBe(201);
    const limited = await attempt("127.0.0.1");
    expect(limited.status).toBe(429);
    expect((limited.body as ErrorBody).error.code).toBe("rate_limited");
    expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
    // Wrong tokens count too: guessing is rate-limited the same way.
    expect((await postFrom("127.0.0.1", hub.port, "/api/v1/enroll", JSON.stringify({ token: "tok_x.guess", hostname: "h" }))).status).toBe(429);
    expect((await attempt("127.0.0.2")).status).toBe(201);
  });

  it("size-limits and validates enrollment bodies before anything else: 413 past 1 MiB, 415 for non-JSON, 400 naming the field", async () => {
    const hub = await hubs.start({ logLevel: "info", args: ["--enroll-rate", "1000"] });
    const post = (body: string, headers?: Record<string, string>) => postFrom("127.0.0.1", hub.port, "/api/v1/enroll", body, headers);
    expect((await post(JSON.stringify({ token: "t", hostname: "x".repeat(2 * 1024 * 1024) }))).status).toBe(413);
    expect((await post("token=t", { "content-type": "application/x-www-form-urlencoded" })).status).toBe(415);
    expect((await post("{not json")).status).toBe(400);
    const bad = await post(JSON.stringify({ token: "t", hostname: 42 }));
    expect(bad.status).toBe(400);
    expect((bad.body as ErrorBody).error.message).toMatch(/hostname/);
    expect((await hub.api.get("/healthz", { token: null })).status).toBe(200);
  });

  it("survives thousands of headers and oversized ones, on the REST port and on the agent endpoint", async () => {
    const hub = shared();
    const many = Array.from({ length: 5000 }, (_, i) => `x-h${i}: ${i}\r\n`).join("");
    const tiny = Array.from({ length: 3000 }, (_, i) => `a${i % 10}:\r\n`).join("");
    const requests = [
      `GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${many}\r\n`,
      `GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${tiny}\r\n`,
      `GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-big: ${"b".repeat(100_000)}\r\n\r\n`,
      `GET /v1/agent HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${many}\r\n`,
      `GET /v1/agent HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${tiny}\r\n`,
      `GET /v1/agent HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nAuthorization: Bearer ${"k".repeat(50_000)}\r\n\r\n`,
    ];
    const answers = await Promise.all(requests.map((r) => rawHttp(hub.port, r)));
    // Too large → refused by the parser with 431 Request Header Fields Too Large; a tolerable number of
    // tiny headers (the 200 that are read) → a normal answer: /healthz 200, the agent endpoint 401.
    expect(answers.map((a) => a.status)).toEqual([431, 200, 431, 431, 401, 431]);
    expect((await hub.api.get("/healthz", { token: null })).status).toBe(200);
    expect(hub.running).toBe(true);
  });

  it("rate-limits unsolicited agent frames (1008 once they persist) but never replies to the hub's own commands", async () => {
    const hub = await hubs.start({ logLevel: "info", queryTimeout: "10s", args: ["--agent-frame-rate", "20", "--enroll-rate", "1000"] });
    const [talker, busy] = await enrollMany(hub.api, 2, "rate");

    // 200 replies in one burst to 200 commands of the hub: all delivered, the socket stays open.
    const answering = await rawAgents.connect(hub.agentUrl, { agentKey: busy!.agentKey });
    const calls = Array.from({ length: 200 }, (_, i) => hub.api.query(busy!.agentId, { query: `select ${i}` }));
    const commands = await answering.waitForQueries(200);
    for (const c of commands) answering.respond(c);
    const answers = await Promise.all(calls);
    expect(answers.every((r) => r.status === 200)).toBe(true);
    expect(answering.isOpen).toBe(true);

    // 300 hello frames in one burst: past 20 a second each is a violation; past 10 violations, 1008.
    const chatty = await rawAgents.connect(hub.agentUrl, { agentKey: talker!.agentKey });
    for (let i = 0; i < 300; i++) chatty.send({ type: "hello", protocol: 2, agentVersion: "x", hostname: `h${i}`, platform: "linux", arch: "x64", labels: {}, capabilities: [] });
    expect((await chatty.closed).code).toBe(1008);
    await hub.waitForLog((l) => l.msg === "invalid agent frame" && l.agentId === talker!.agentId && /unsolicited frames in a second/.test(String(l.error)));
    expect(answering.isOpen).toBe(true);
    expect((await hub.api.get("/healthz", { token: null })).status).toBe(200);
  });

  it("compares secrets in constant time: a sha256 digest of equal length through timingSafeEqual, whatever was presented", () => {
    const secret = "s3cret-of-32-bytes-base64url-xxxxxxxxxxxx";
    const hash = createHash("sha256").update(secret).digest("hex");
    const spy = vi.mocked(timingSafeEqual);
    for (const presented of [secret, `${secret}x`, "", "a", "x".repeat(10_000), secret.slice(0, -1)]) {
      spy.mockClear();
      expect(secretMatches(presented, hash)).toBe(presented === secret);
      expect(spy).toHaveBeenCalledTimes(1);
      const [a, b] = spy.mock.calls[0]!;
      expect((a as Buffer).length).toBe(32);
      expect((b as Buffer).length).toBe(32);
    }
  });

  it("stores no token or agent key in clear: the SQLite file and its WAL hold only their hashes", async () => {
    const hub = await hubs.start({ logLevel: "info", args: ["--enroll-rate", "1000"] });
    const apiToken = await hub.api.createToken("api", "query", "clear-check");
    const enrollToken = await hub.api.createToken("enroll");
    const enrolled = await hub.api.post("/api/v1/enroll", { token: enrollToken, hostname: "clear-check" }, { token: null });
    const { agentId, agentKey } = enrolled.body as EnrollResponse;
    const agent = await rawAgents.connect(hub.agentUrl, { agentKey, onQuery: (c, a) => a.respond(c) });
    await waitFor("online", async () => (await hub.api.agent(agentId)).body.status === "online");
    expect((await hub.api.as(apiToken).query(agentId, { query: "select 'audited'" })).status).toBe(200);
    await agent.close();
    const exit = await hubs.stop(hub);
    expect(exit.code).toBe(0);

    const files = ["uplink.db", "uplink.db-wal", "uplink.db-shm"].map((f) => join(hub.dataDir, f)).filter(existsSync);
    const bytes = Buffer.concat(files.map((f) => readFileSync(f)));
    const secrets = [hub.adminToken, apiToken, enrollToken, agentKey];
    for (const value of secrets) {
      const secretPart = value.slice(value.indexOf(".") + 1);
      expect(bytes.includes(Buffer.from(value)), `a credential is stored in clear`).toBe(false);
      expect(bytes.includes(Buffer.from(secretPart)), `a secret is stored in clear`).toBe(false);
      // The file is the right one: each secret's hash is in it.
      expect(bytes.includes(Buffer.from(createHash("sha256").update(secretPart).digest("hex")))).toBe(true);
    }
  });
});
