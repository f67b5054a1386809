import { EventSource } from "eventsource";
import { afterEach, describe, expect, it } from "vitest";
import { useTcpProxies, type TcpProxy } from "./fixtures/cluster.js";
import { enrollFleet } from "./fixtures/fleet.js";
import { useHubs, type HubProcess } from "./fixtures/hub-process.js";
import { childEnv, CLI_BIN, ManagedProcess } from "./fixtures/process.js";
import { useRawAgents } from "./fixtures/raw-agent.js";
import { useSseClients, type SseClient } from "./fixtures/sse.js";
import { waitFor } from "./fixtures/wait.js";

/** Every event type a hub stream sends (an EventSource dispatches a named event only to its listeners). */
const EVENT_TYPES = ["agent.connected", "agent.disconnected", "agent.health_changed", "query.done", "gap", "result", "done", "message"];

interface Received {
  type: string;
  id: string;
  data: unknown;
}

/**
 * A standard EventSource client (the `eventsource` package: WHATWG semantics). It reconnects by itself
 * after the `retry:` the hub suggests, on the URL it was opened with, sending the id of the last event it
 * got as `Last-Event-ID`; it stops for good on a 204 or any other non-200 answer.
 */
class Follower {
  readonly received: Received[] = [];
  /** Connections that opened: the first, then one per reconnect. */
  opens = 0;
  /** The HTTP status of each error event that carried one (a 204 ends the client). */
  readonly statuses: number[] = [];
  readonly source: EventSource;

  constructor(url: string, token: string) {
    this.source = new EventSource(url, {
      fetch: (input, init) => fetch(input, { ...init, headers: { ...init.headers, Authorization: `Bearer ${token}` } }),
    });
    for (const type of EVENT_TYPES) {
      this.source.addEventListener(type, (e) => this.received.push({ type, id: e.lastEventId, data: JSON.parse(e.data as string) }));
    }
    this.source.addEventListener("open", () => this.opens++);
    this.source.addEventListener("error", (e) => {
      if (e.code !== undefined) this.statuses.push(e.code);
    });
  }

  get closed(): boolean {
    return this.source.readyState === EventSource.CLOSED;
  }

  until<T>(what: string, probe: () => T | undefined | false): Promise<T> {
    return waitFor(`${what} (received ${this.received.map((r) => `${r.type}#${r.id}`).join(", ")})`, probe, { timeoutMs: 20_000, intervalMs: 20 });
  }
}

/** `uplink events --json --after 0` running until the test stops it (its own reconnects, 1 s apart). */
class CliFollower extends ManagedProcess {
  constructor(url: string, token: string) {
    super("uplink events", CLI_BIN, ["--hub", url, "--token", token, "events", "--json", "--after", "0"], childEnv());
  }

  received(): Received[] {
    return this.logs.map(({ id, type, ...data }) => ({ type: type as string, id: id as string, data }));
  }
}

/** What a client saw, comparable with the log as the hub holds it. */
const asReceived = (client: SseClient): Received[] => client.events.map((e) => ({ type: e.event, id: e.id!, data: e.json }));

function expectIncreasing(ids: string[]): void {
  for (let i = 1; i < ids.length; i++) expect(Number(ids[i]), `id after ${ids[i - 1]}`).toBeGreaterThan(Number(ids[i - 1]));
}

describe("EventSource resume semantics across dropped connections and a hub restart", () => {
  const hubs = useHubs();
  const proxies = useTcpProxies();
  const rawAgents = useRawAgents();
  const sse = useSseClients();
  const followers: Follower[] = [];
  const clis: CliFollower[] = [];
  afterEach(async () => {
    for (const f of followers.splice(0)) f.source.close();
    await Promise.all(clis.splice(0).map((c) => c.stop("SIGINT")));
  });

  const follow = (url: string, token: string) => {
    const follower = new Follower(url, token);
    followers.push(follower);
    return follower;
  };

  /** A hub behind a TCP proxy the test cuts; the proxy's base URL stays the same across a restart. */
  async function proxiedHub(): Promise<{ hub: HubProcess; proxy: TcpProxy; base: string; dataDir: string }> {
    const dataDir = await hubs.tempDir();
    const hub = await hubs.start({ dataDir, logLevel: "info", args: ["--enroll-rate", "1000"] });
    const proxy = await proxies.start({ host: "127.0.0.1", port: hub.port });
    return { hub, proxy, base: `http://127.0.0.1:${proxy.port}`, dataDir };
  }

  /** The same hub again: same data directory (the SQLite store file is kept), same port. */
  async function restart(hub: HubProcess, dataDir: string): Promise<HubProcess> {
    expect((await hubs.stop(hub)).code).toBe(0);
    return hubs.start({ dataDir, port: hub.port, logLevel: "info", args: ["--enroll-rate", "1000"] });
  }

  /** `n` fan-outs that match no agent: one `query.done` event each. */
  async function fanouts(hub: HubProcess, n: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const res = await hub.api.post("/api/v1/queries", { query: "select 1", targets: { labels: { none: "matches" } } });
      expect(res.status).toBe(202);
      ids.push(res.body.id as string);
    }
    return ids;
  }

  const doneOf = (list: Received[], fanoutId: string) => list.some((r) => r.type === "query.done" && (r.data as { fanoutId?: string }).fanoutId === fanoutId);

  it("hub events: an EventSource and `uplink events` opened with ?after=0, dropped three times and across a restart, see every event once, in order", async () => {
    const { hub: first, proxy, base, dataDir } = await proxiedHub();
    const token = first.adminToken;
    const browser = follow(`${base}/api/v1/events?after=0`, token);
    const cli = new CliFollower(base, token);
    clis.push(cli);
    // Both connected before any event exists: their first connection has no id to resume from.
    await waitFor("both streams open", async () => (await first.api.metric("uplink_sse_clients", { stream: "events" })) === 2, { intervalMs: 20 });
    const watcher = await sse.open(first.url, "/api/v1/events", { token });

    const all: string[] = [];
    let hub = first;
    for (let drop = 1; drop <= 4; drop++) {
      // Away: the connections are reset and new ones refused while events happen.
      proxy.cut();
      const restarting = drop === 4;
      if (restarting) hub = await restart(hub, dataDir);
      const missed = await fanouts(hub, 3);
      all.push(...missed);
      if (!restarting) for (const id of missed) await watcher.waitForEvent(`query.done of ${id}`, (e) => e.event === "query.done" && e.json.fanoutId === id);
      proxy.restore();
      // Back: what was missed is replayed, then live events follow on the same connection.
      await browser.until("the missed events", () => missed.every((id) => doneOf(browser.received, id)));
      const live = await fanouts(hub, 2);
      all.push(...live);
      await browser.until("the live events", () => live.every((id) => doneOf(browser.received, id)));
      await waitFor("the CLI got them", () => [...missed, ...live].every((id) => doneOf(cli.received(), id)), { timeoutMs: 20_000, intervalMs: 20 });
    }

    // The log as the (restarted) hub holds it is what each client saw: nothing twice, nothing skipped.
    const log = await sse.open(hub.url, "/api/v1/events", { token, lastEventId: 0 });
    await log.waitForCount(all.length);
    expect(asReceived(log).filter((e) => e.type === "query.done")).toHaveLength(all.length);
    expect(browser.received).toEqual(asReceived(log));
    expect(cli.received()).toEqual(asReceived(log));
    expectIncreasing(browser.received.map((r) => r.id));
    expect(all.every((id) => browser.received.filter((r) => (r.data as { fanoutId?: string }).fanoutId === id).length === 1)).toBe(true);
    // One connection per drop (three cuts and the restart), each resumed by Last-Event-ID on the `?after=0` URL.
    expect(browser.opens).toBe(5);
    expect(browser.closed).toBe(false);
  }, 90_000);

  it("a fan-out's result stream: an EventSource dropped three times and across a restart gets each result once, `done` once, then a 204 ends it", async () => {
    const { hub: first, proxy, base, dataDir } = await proxiedHub();
    const fleet = await enrollFleet(first, rawAgents.connect, [{ hostname: "r-1" }, { hostname: "r-2" }, { hostname: "r-3" }, { hostname: "r-4" }]);
    const started = await first.api.post("/api/v1/queries", { query: "select 1", targets: { all: true }, timeoutMs: 60_000 });
    expect(started.status).toBe(202);
    const id = started.body.id as string;
    const browser = follow(`${base}/api/v1/queries/${id}/stream?after=0`, first.adminToken);
    await browser.until("the stream open", () => browser.opens === 1);
    await Promise.all(fleet.map((a) => a.agent.waitForQueries(1)));

    // Three agents answer one by one, each while the client is away.
    for (let n = 1; n <= 3; n++) {
      proxy.cut();
      const member = fleet[n - 1]!;
      member.agent.respond(member.agent.queries[0]!);
      await waitFor(`result ${n} stored`, async () => ((await first.api.get(`/api/v1/queries/${id}`)).body.counts.ok === n ? true : undefined), { intervalMs: 20 });
      proxy.restore();
      await browser.until(`result ${n}`, () => browser.received.length === n);
    }
    // The fourth never answers: the hub stops (its shutdown ends the fan-out) and comes back.
    proxy.cut();
    const hub = await restart(first, dataDir);
    proxy.restore();
    await browser.until("done, then the 204 that ends the client", () => browser.closed);

    const final = (await hub.api.get(`/api/v1/queries/${id}`)).body;
    expect(final.status).toBe("done");
    const rows = new Map((final.targets as { correlationId: string }[]).map((t) => [t.correlationId, t]));
    expect(browser.received.map((r) => [r.type, r.id])).toEqual([["result", "1"], ["result", "2"], ["result", "3"], ["result", "4"], ["done", "5"]]);
    for (const r of browser.received.slice(0, 4)) expect(r.data).toEqual(rows.get((r.data as { correlationId: string }).correlationId));
    expect(new Set(browser.received.slice(0, 4).map((r) => (r.data as { correlationId: string }).correlationId)).size).toBe(4);
    expect(browser.received[4]!.data).toEqual(final.counts);
    expect(browser.statuses).toEqual([204]);
    expect(browser.opens).toBe(5);
  }, 90_000);

  it("refuses an id that no stream sent: malformed, or past the log (400), and past a fan-out's `done`", async () => {
    const { hub } = await proxiedHub();
    const [a] = await fanouts(hub, 2);
    const open = (path: string, lastEventId?: string) => sse.open(hub.url, path, { token: hub.adminToken, ...(lastEventId === undefined ? {} : { lastEventId }) });
    const refusals = [
      await open("/api/v1/events", "not-a-number"),
      await open("/api/v1/events", "-1"),
      await open("/api/v1/events", "1.5"),
      await open("/api/v1/events?after=x"),
      // The header wins: a good ?after= does not save a bad Last-Event-ID.
      await open("/api/v1/events?after=0", "abc"),
      // Past the newest event: a log started anew (a new data directory) would otherwise skip events.
      await open("/api/v1/events", "3"),
      await open(`/api/v1/queries/${a}/stream`, "x"),
      // A fan-out of 0 targets: `done` is id 1; 2 is no id of its stream.
      await open(`/api/v1/queries/${a}/stream`, "2"),
    ];
    for (const r of refusals) {
      expect(r.status, r.body).toBe(400);
      expect(JSON.parse(r.body).error).toMatchObject({ code: "invalid_request", message: expect.stringMatching(/Last-Event-ID|after|event \d+/) });
    }
    expect(JSON.parse(refusals[0]!.body).error.message).toBe('Last-Event-ID must be the id of an event of this stream (a non-negative integer), not "not-a-number"');

    // An empty Last-Event-ID is none: `?after=0` applies.
    const empty = await open("/api/v1/events?after=0", "");
    expect((await empty.waitForCount(2)).map((e) => e.id)).toEqual(["1", "2"]);
    // Resuming after the fan-out's `done` (id 1) is the end: 204, no events.
    const over = await open(`/api/v1/queries/${a}/stream`, "1");
    expect(over.status).toBe(204);
    const fromStart = await open(`/api/v1/queries/${a}/stream`);
    await fromStart.waitForEnd();
    expect(fromStart.events.map((e) => [e.event, e.id])).toEqual([["done", "1"]]);

    // Each stream still opens with the reconnect delay it suggests to an EventSource.
    const abort = new AbortController();
    const raw = await fetch(`${hub.url}/api/v1/events`, { headers: { Authorization: `Bearer ${hub.adminToken}` }, signal: abort.signal });
    const reader = raw.body!.getReader();
    let head = "";
    // Up to the end of the first block of fields (a stream with no event yet sends nothing after it).
    while (!head.includes("\n\n")) {
      const chunk = await reader.read();
      if (chunk.done) break;
      head += new TextDecoder().decode(chunk.value);
    }
    abort.abort();
    expect(head).toMatch(/^retry: ?2000$/m);
  });
});
