import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { CAPABILITY_CORRELATION_ID, PROTOCOL_VERSION } from "@uplink/protocol";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { CredentialRejectedError } from "./errors.js";
import { agentUrl, HubClient, parseRetryAfter, type HubClientOptions } from "./hub-client.js";

/** A stand-in hub: records each upgrade attempt and either refuses it with raw HTTP or accepts it. */
class FakeHub {
  readonly attempts: Array<{ at: number; headers: IncomingHttpHeaders }> = [];
  readonly sockets: Array<{ ws: WebSocket; openedAt: number; messages: unknown[] }> = [];
  /** Returns a raw HTTP response to refuse attempt n (1-based), or undefined to accept it. */
  refuse: (attempt: number) => string | undefined = () => undefined;
  readonly #server: Server = createServer();
  readonly #wss = new WebSocketServer({ noServer: true });
  url = "";

  async start(): Promise<this> {
    this.#server.on("upgrade", (req, socket, head) => {
      this.attempts.push({ at: Date.now(), headers: req.headers });
      const refusal = this.refuse(this.attempts.length);
      if (refusal !== undefined) {
        socket.end(refusal);
        return;
      }
      this.#wss.handleUpgrade(req, socket, head, (ws) => {
        const entry = { ws, openedAt: Date.now(), messages: [] as unknown[] };
        ws.on("message", (data) => entry.messages.push(JSON.parse(String(data))));
        this.sockets.push(entry);
      });
    });
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const { ws } of this.sockets) ws.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

function refusal(status: string, headers: Record<string, string> = {}): string {
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
  return `HTTP/1.1 ${status}\r\n${lines.join("")}Connection: close\r\nContent-Length: 0\r\n\r\n`;
}

async function waitFor(predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Active handles and requests by kind, sorted, so two snapshots compare as multisets. Taken after two turns
 * of the event loop, so handles whose close callbacks are already queued (a previous test's server) are gone.
 */
async function activeResources(): Promise<string[]> {
  for (let turn = 0; turn < 2; turn += 1) await new Promise((resolve) => setImmediate(resolve));
  return process.getActiveResourcesInfo().sort();
}

let hub: FakeHub;
let clients: HubClient[] = [];

function client(options: Partial<HubClientOptions> = {}): HubClient {
  const c = new HubClient({
    hub: hub.url,
    agentKey: "agt_1.secret",
    identity: { agentVersion: "1.0.0", hostname: "web-1", labels: { env: "test" } },
    log: pino({ level: "silent" }),
    onFrame: () => undefined,
    reconnectBaseMs: 10,
    reconnectCapMs: 50,
    ...options,
  });
  clients.push(c);
  c.start();
  return c;
}

afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  clients = [];
  await hub.stop();
});

describe("HubClient", () => {
  it("upgrades with the key and protocol header, then sends hello first", async () => {
    hub = await new FakeHub().start();
    const c = client();
    await waitFor(() => hub.sockets[0]?.messages.length === 1);
    expect(hub.attempts[0]?.headers).toMatchObject({ authorization: "Bearer agt_1.secret", "uplink-protocol": "2" });
    expect(hub.sockets[0]?.messages[0]).toEqual({
      type: "hello",
      protocol: PROTOCOL_VERSION,
      agentVersion: "1.0.0",
      hostname: "web-1",
      platform: process.platform,
      arch: process.arch,
      labels: { env: "test" },
      capabilities: [CAPABILITY_CORRELATION_ID],
    });
    expect(c.state).toBe("open");
  });

  it("hands every text frame to onFrame and sends frames while open", async () => {
    hub = await new FakeHub().start();
    const frames: string[] = [];
    const c = client({ onFrame: (text) => frames.push(text) });
    await waitFor(() => hub.sockets.length === 1 && c.state === "open");
    hub.sockets[0]?.ws.send('{"type":"welcome"}');
    await waitFor(() => frames.length === 1);
    expect(frames).toEqual(['{"type":"welcome"}']);
    expect(c.send({ type: "session_response", sessionId: "s", ok: true })).toBe(true);
    await waitFor(() => hub.sockets[0]?.messages.length === 2);
  });

  it("reconnects after the hub closes the connection (1001, 1012, 4409)", async () => {
    hub = await new FakeHub().start();
    const disconnects: number[] = [];
    client({ onDisconnect: () => disconnects.push(Date.now()) });
    await waitFor(() => hub.sockets.length === 1);
    hub.sockets[0]?.ws.close(1001, "hub shutting down");
    await waitFor(() => hub.sockets.length === 2);
    hub.sockets[1]?.ws.close(1012, "service restart");
    await waitFor(() => hub.sockets.length === 3);
    hub.sockets[2]?.ws.close(4409, "replaced");
    await waitFor(() => hub.sockets[3]?.messages.length === 1);
    expect(hub.sockets[3]?.messages[0]).toMatchObject({ type: "hello" });
    expect(disconnects).toHaveLength(3);
  });

  it("after the hub announces a restart (1001), the backoff starts over, grows to the restart cap only, and counts no attempt for a 503", async () => {
    hub = await new FakeHub().start();
    const backoffs: Record<string, unknown>[] = [];
    const log = pino({ level: "info" }, { write: (line: string) => void backoffs.push(JSON.parse(line)) });
    client({ log, reconnectBaseMs: 100, reconnectCapMs: 60_000, restartCapMs: 1_000, random: () => 0.5 });
    await waitFor(() => hub.sockets.length === 1);
    // No hub for a while (a balancer answers for it), then the new hub pacing its handshakes, then in.
    hub.refuse = (n) => (n === 5 ? refusal("503 Service Unavailable", { "Retry-After": "1" }) : n >= 2 && n <= 6 ? refusal("502 Bad Gateway") : undefined);
    hub.sockets[0]?.ws.close(1001, "hub shutting down");
    await waitFor(() => hub.sockets.length === 2);
    const waits = () => backoffs.filter((l) => l.msg === "hub connection backoff");
    // Half of each ceiling: 100, 200, 400, 800 → capped at 1,000; the 503 waits its Retry-After at attempt 0's
    // ceiling and counts no attempt, so the next ceiling is still the cap (800 → 1,600 → 1,000), not higher.
    expect(waits().map((l) => [l.delayMs, l.restarting])).toEqual([[50, true], [100, true], [200, true], [400, true], [1_000, true], [500, true]]);
    expect(waits()[0]).toMatchObject({ code: 1001, reason: "hub shutting down" });
    expect(waits()[4]).toMatchObject({ status: 503, retryAfterMs: 1_000 });

    // Once connected the restart is over: the next drop waits on the usual backoff, up to its own cap.
    hub.sockets[1]?.ws.close(1011, "internal error");
    await waitFor(() => waits().length === 7);
    expect(waits()[6]).toMatchObject({ code: 1011, delayMs: 1_600 });
    expect(waits()[6]).not.toHaveProperty("restarting");
  });

  it("honours Retry-After on a 503 refusal", async () => {
    hub = await new FakeHub().start();
    hub.refuse = (n) => (n === 1 ? refusal("503 Service Unavailable", { "Retry-After": "1" }) : undefined);
    const c = client();
    await waitFor(() => c.state === "open");
    const [first, second] = hub.attempts;
    // Timers run on the event loop's cached clock, which can trail Date.now() by a few milliseconds.
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(990);
  });

  it("stops with CredentialRejectedError on 401, without retrying", async () => {
    hub = await new FakeHub().start();
    hub.refuse = () => refusal("401 Unauthorized");
    const c = client();
    const err = await c.stopped().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CredentialRejectedError);
    expect(err).toMatchObject({ status: 401, message: "the hub rejected this agent's key (401) — re-enroll" });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(hub.attempts).toHaveLength(1);
    expect(c.state).toBe("stopped");
  });

  it("stops with CredentialRejectedError on 403 and on close codes 4401/4403", async () => {
    hub = await new FakeHub().start();
    hub.refuse = () => refusal("403 Forbidden");
    await expect(client().stopped()).rejects.toMatchObject({ status: 403, message: "this agent was revoked (403)" });

    hub.refuse = () => undefined;
    const revoked = client();
    await waitFor(() => hub.sockets.length === 1);
    hub.sockets[0]?.ws.close(4403, "revoked");
    await expect(revoked.stopped()).rejects.toMatchObject({ status: 403, message: "this agent was revoked (close 4403)" });

    const unauthorized = client();
    await waitFor(() => hub.sockets.length === 2);
    hub.sockets[1]?.ws.close(4401, "unauthorized");
    await expect(unauthorized.stopped()).rejects.toMatchObject({ status: 401 });
  });

  it("drops a connection that hears no ping and reconnects", async () => {
    hub = await new FakeHub().start();
    client({ pingTimeoutMs: 150 });
    await waitFor(() => hub.sockets.length === 2);
    const first = hub.sockets[0];
    expect(first?.ws.readyState).toBe(WebSocket.CLOSED);
    expect((hub.sockets[1]?.openedAt ?? 0) - (first?.openedAt ?? 0)).toBeGreaterThanOrEqual(140);
  });

  it("keeps a connection that is pinged", async () => {
    hub = await new FakeHub().start();
    const c = client({ pingTimeoutMs: 150 });
    await waitFor(() => hub.sockets.length === 1);
    const pinger = setInterval(() => hub.sockets[0]?.ws.ping(), 40);
    await new Promise((resolve) => setTimeout(resolve, 400));
    clearInterval(pinger);
    expect(hub.sockets).toHaveLength(1);
    expect(c.state).toBe("open");
  });

  it("resets the backoff after a stable connection", async () => {
    hub = await new FakeHub().start();
    client({ reconnectBaseMs: 100, reconnectCapMs: 10_000, stableMs: 150, random: () => 0.999 });
    const closeWhen = async (n: number, afterMs: number) => {
      await waitFor(() => hub.sockets.length === n);
      await new Promise((resolve) => setTimeout(resolve, afterMs));
      hub.sockets[n - 1]?.ws.close(1011);
    };
    await closeWhen(1, 0); // waits ~100 ms
    await closeWhen(2, 0); // waits ~200 ms
    await closeWhen(3, 200); // stable: back to ~100 ms instead of ~400 ms
    await waitFor(() => hub.sockets.length === 4);
    const gap = (n: number) => (hub.attempts[n]?.at ?? 0) - (hub.attempts[n - 1]?.at ?? 0);
    expect(gap(2)).toBeGreaterThanOrEqual(190);
    expect(gap(3) - 200).toBeLessThan(300);
  });

  it("leaves no active handle after close, and close is idempotent", async () => {
    hub = await new FakeHub().start();
    const baseline = await activeResources();
    const c = client();
    await waitFor(() => hub.sockets.length === 1 && c.state === "open");
    const closing = c.close();
    expect(c.close()).toBe(closing);
    await closing;
    await waitFor(() => hub.sockets[0]?.ws.readyState === WebSocket.CLOSED);
    expect(await activeResources()).toEqual(baseline);
    await expect(c.stopped()).resolves.toBeUndefined();
  });

  it("leaves no active handle when closed during backoff", async () => {
    hub = await new FakeHub().start();
    hub.refuse = () => refusal("503 Service Unavailable", { "Retry-After": "60" });
    const baseline = await activeResources();
    const c = client();
    await waitFor(() => c.state === "backoff");
    await c.close();
    expect(await activeResources()).toEqual(baseline);
  });
});

describe("agentUrl", () => {
  it("maps http(s) to ws(s) on the agent path", () => {
    expect(agentUrl("http://hub:7070")).toBe("ws://hub:7070/v1/agent");
    expect(agentUrl("https://hub.example.com/")).toBe("wss://hub.example.com/v1/agent");
  });
});

describe("parseRetryAfter", () => {
  it("reads seconds and HTTP dates", () => {
    expect(parseRetryAfter("3")).toBe(3_000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});
