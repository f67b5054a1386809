import { describe, expect, it } from "vitest";
import { UUID_V4 } from "./fixtures/http.js";
import { useHubs, useSharedHub, type HubProcess } from "./fixtures/hub-process.js";
import { enrollFleet, waitUntilStatus, type FleetAgent } from "./fixtures/fleet.js";
import { childEnv, CLI_BIN, ManagedProcess, runToCompletion, uplink, type CliResult, type LogLine } from "./fixtures/process.js";
import { useRawAgents, type HubCommand } from "./fixtures/raw-agent.js";
import { waitFor } from "./fixtures/wait.js";

/** Web agents answer `hostname, load1`; db agents `hostname, conns`: the merged table has both columns. */
function answerFor(a: FleetAgent) {
  return (command: HubCommand, agent: FleetAgent["agent"]) => {
    if (a.hostname === "web-3") return agent.respond(command, { ok: false, code: "query_failed", error: "no such table: nope" });
    const result =
      a.labels.role === "web"
        ? { columns: ["hostname", "load1"], rows: [[a.hostname, 0.5]], rowCount: 1, truncated: false }
        : { columns: ["hostname", "conns"], rows: [[a.hostname, 7]], rowCount: 1, truncated: false };
    agent.respond(command, { ok: true, result });
  };
}

/** `uplink …` under a pseudo-terminal (util-linux `script`), so stderr is a TTY as an operator's is. */
function uplinkInTerminal(args: string[], env: Record<string, string>, timeoutMs = 15_000): Promise<CliResult> {
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const command = [process.execPath, CLI_BIN, ...args].map(quote).join(" ");
  return runToCompletion("script", ["-q", "-e", "-c", command, "/dev/null"], { env, timeoutMs, label: `uplink ${args.join(" ")} under script` });
}

/** `uplink events …` running until the test stops it; its stdout lines are kept (parsed when JSON). */
class EventsFollower extends ManagedProcess {
  constructor(hub: HubProcess, args: string[]) {
    super("uplink events", CLI_BIN, ["--hub", hub.url, "--token", hub.adminToken, "events", ...args], childEnv());
  }
}

describe("`uplink query --label/--all`, `uplink cancel` and `uplink events`", () => {
  const shared = useSharedHub({ logLevel: "info", args: ["--enroll-rate", "1000"] });
  const hubs = useHubs();
  const rawAgents = useRawAgents();
  const cli = (hub: HubProcess, args: string[]) => uplink(["--hub", hub.url, "--token", hub.adminToken, ...args]);

  /** Three web agents (web-3 answers an error) in two zones, and two db agents. */
  async function fleetOf(hub: HubProcess, suite: string): Promise<Map<string, FleetAgent>> {
    const fleet = await enrollFleet(hub, rawAgents.connect, [
      { hostname: "web-1", labels: { suite, role: "web", zone: "a" } },
      { hostname: "web-2", labels: { suite, role: "web", zone: "b" } },
      { hostname: "web-3", labels: { suite, role: "web", zone: "a" } },
      { hostname: "db-1", labels: { suite, role: "db", zone: "a" } },
      { hostname: "db-2", labels: { suite, role: "db", zone: "b" } },
    ]);
    for (const a of fleet) a.agent.onQuery = answerFor(a);
    return new Map(fleet.map((a) => [a.hostname, a]));
  }

  it("prints one merged table with an AGENT column and the summary, exiting 0 when every target is ok", async () => {
    const hub = shared();
    const fleet = await fleetOf(hub, "merged");
    const run = await cli(hub, ["query", "--label", "suite=merged", "--label", "role=db", "select hostname, conns from db"]);

    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^AGENT\s+hostname\s+conns$/);
    const [db1, db2] = [fleet.get("db-1")!, fleet.get("db-2")!].sort((x, y) => x.agentId.localeCompare(y.agentId));
    expect(lines[1]).toMatch(new RegExp(`^${db1!.agentId}\\s+${db1!.hostname}\\s+7$`));
    expect(lines[2]).toMatch(new RegExp(`^${db2!.agentId}\\s+${db2!.hostname}\\s+7$`));
    expect(lines[3]).toBe("");
    expect(lines[4]).toMatch(/^2 targets: 2 ok · 0 error · 0 timeout · 0 offline · fan_[0-9a-f]+$/);
    expect(lines).toHaveLength(5);
  });

  it("exits 4 when a target fails, naming it under the table; every label must match", async () => {
    const hub = shared();
    const fleet = await fleetOf(hub, "partial");
    const web3 = fleet.get("web-3")!;
    const run = await cli(hub, ["query", "--label", "suite=partial", "--label", "role=web", "select hostname, load1 from load_average, system_info"]);

    expect(run.code).toBe(4);
    const lines = run.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^AGENT\s+hostname\s+load1$/);
    for (const host of ["web-1", "web-2"]) expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${fleet.get(host)!.agentId}\\s+${host}\\s+0\\.5$`)));
    expect(lines.some((l) => l.startsWith(web3.agentId) && !l.includes("error"))).toBe(false);
    expect(lines).toContainEqual(expect.stringMatching(/^3 targets: 2 ok · 1 error · 0 timeout · 0 offline · fan_[0-9a-f]+$/));
    expect(lines.at(-1)).toBe(`  ${web3.agentId}  error  query_failed: no such table: nope`);

    // Both labels must match: zone a has web-1 and web-3, not web-2.
    const zoneA = await cli(hub, ["query", "--label", "suite=partial", "--label", "role=web", "--label", "zone=a", "select 1"]);
    expect(zoneA.code).toBe(4);
    expect(zoneA.stdout).toMatch(/^2 targets: 1 ok · 1 error · 0 timeout · 0 offline · fan_/m);
    expect(zoneA.stdout).toContain(fleet.get("web-1")!.agentId);
    expect(zoneA.stdout).not.toContain(fleet.get("web-2")!.agentId);
  });

  it("--json prints one NDJSON line per target as it lands, then a summary line; the same as the hub's record", async () => {
    const hub = shared();
    const fleet = await fleetOf(hub, "ndjson");
    const run = await cli(hub, ["--json", "query", "--label", "suite=ndjson", "--label", "role=web", "select 1"]);

    expect(run.code).toBe(4);
    const lines = run.stdout.trimEnd().split("\n").map((l) => JSON.parse(l) as Record<string, any>);
    expect(lines.map((l) => l.type)).toEqual(["result", "result", "result", "summary"]);
    const summary = lines.at(-1)!;
    expect(summary).toEqual({ type: "summary", id: expect.stringMatching(/^fan_/), targetCount: 3, counts: { pending: 0, ok: 2, error: 1, timeout: 0, offline: 0, cancelled: 0 } });
    const record = await hub.api.get(`/api/v1/queries/${summary.id}`);
    const results = lines.slice(0, -1);
    // In landing order, exactly as the hub recorded each target.
    expect(results.map((r) => r.resultSeq)).toEqual([1, 2, 3]);
    for (const r of results) {
      const { type, ...row } = r;
      expect(type).toBe("result");
      expect(r.correlationId).toMatch(UUID_V4);
      expect(row).toEqual(record.body.targets.find((t: { correlationId: string }) => t.correlationId === r.correlationId));
    }
    expect(new Set(results.map((r) => r.agentId))).toEqual(new Set(["web-1", "web-2", "web-3"].map((h) => fleet.get(h)!.agentId)));
    expect(results.find((r) => r.agentId === fleet.get("web-3")!.agentId)).toMatchObject({ status: "error", error: { code: "query_failed" } });
  });

  it("--all targets every agent: 0 when all answer, 4 with the offline one listed when one is away", async () => {
    const hub = await hubs.start({ logLevel: "info" });
    const fleet = await enrollFleet(hub, rawAgents.connect, [{ hostname: "all-a", labels: { role: "db" } }, { hostname: "all-b", labels: { role: "web" } }]);
    for (const a of fleet) a.agent.onQuery = answerFor(a);

    const allOk = await cli(hub, ["query", "--all", "select 1"]);
    expect(allOk.code).toBe(0);
    const lines = allOk.stdout.trimEnd().split("\n");
    // Columns merge by name, in the order the targets (sorted by agentId) bring them.
    const [firstAgent] = [...fleet].sort((x, y) => x.agentId.localeCompare(y.agentId));
    expect(lines[0]).toMatch(firstAgent!.hostname === "all-a" ? /^AGENT\s+hostname\s+conns\s+load1$/ : /^AGENT\s+hostname\s+load1\s+conns$/);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${fleet[0]!.agentId}\\s+all-a\\s+7$`)));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^${fleet[1]!.agentId}\\s+all-b\\s+0\\.5$`)));
    expect(lines.at(-1)).toMatch(/^2 targets: 2 ok · 0 error · 0 timeout · 0 offline · fan_/);

    await fleet[1]!.agent.terminate();
    await waitUntilStatus(hub, [fleet[1]!.agentId], "offline");
    const oneAway = await cli(hub, ["query", "--all", "select 1"]);
    expect(oneAway.code).toBe(4);
    expect(oneAway.stdout).toMatch(/^2 targets: 1 ok · 0 error · 0 timeout · 1 offline · fan_/m);
    expect(oneAway.stdout.trimEnd().split("\n").at(-1)).toBe(`  ${fleet[1]!.agentId}  offline  agent_offline: agent ${fleet[1]!.agentId} is offline`);
  });

  it("shows live progress on a terminal while collecting", async () => {
    const hub = shared();
    const fleet = await fleetOf(hub, "progress");
    // db-1 answers after 400 ms, so the progress line is seen before the end.
    const db1 = fleet.get("db-1")!;
    db1.agent.onQuery = (command, agent) => agent.later(400, () => answerFor(db1)(command, agent));
    const run = await uplinkInTerminal(["query", "--label", "suite=progress", "--label", "role=db", "select 1"], { UPLINK_HUB: hub.url, UPLINK_TOKEN: hub.adminToken });

    expect(run.code).toBe(0);
    // Under the terminal, stderr and stdout share the screen: progress lines are redrawn with \r.
    expect(run.stdout).toContain("\r0/2 answered · 0 ok · 0 error · 0 timeout · 0 offline");
    expect(run.stdout).toContain("\r1/2 answered · 1 ok");
    expect(run.stdout).toContain("\r2/2 answered · 2 ok");
    expect(run.stdout).toMatch(/2 targets: 2 ok · 0 error · 0 timeout · 0 offline · fan_/);
  });

  it("`uplink cancel` cancels a running fan-out and prints its targets and counts (exit 0); --json prints its view; an ended fan-out exits 1 with 409 fanout_finished", async () => {
    const hub = shared();
    const [fast, silent] = await enrollFleet(hub, rawAgents.connect, [{ hostname: "cancel-fast" }, { hostname: "cancel-silent" }]);
    fast!.agent.onQuery = (command, agent) => agent.respond(command, { ok: true, result: { columns: ["n"], rows: [[1]], rowCount: 1, truncated: false } });
    const start = async (query: string) => {
      const res = await hub.api.post("/api/v1/queries", { query, targets: { agentIds: [fast!.agentId, silent!.agentId] }, timeoutMs: 50_000 });
      await silent!.agent.waitForQuery(query);
      await waitFor("the fast target stored", async () => (await hub.api.get(`/api/v1/queries/${res.body.id}`)).body.counts.ok === 1);
      return res.body.id as string;
    };

    const id = await start("select 'cli cancel'");
    const run = await cli(hub, ["cancel", id]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^AGENT\s+STATUS\s+MS\s+ERROR$/);
    expect(lines.find((l) => l.startsWith(silent!.agentId))).toMatch(/\scancelled\s.*cancelled: the fan-out was cancelled by /);
    expect(lines.find((l) => l.startsWith(fast!.agentId))).toMatch(/\sok\s/);
    expect(lines.at(-1)).toBe(`2 targets: 1 ok · 0 error · 0 timeout · 0 offline · 1 cancelled · ${id}`);

    const again = await cli(hub, ["cancel", id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`uplink: 409 fanout_finished: fan-out ${id} already ended; there is nothing left to cancel\n`);

    const second = await start("select 'cli cancel json'");
    const json = await cli(hub, ["--json", "cancel", second]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual((await hub.api.get(`/api/v1/queries/${second}`)).body);
    expect(JSON.parse(json.stdout)).toMatchObject({ status: "done", counts: { ok: 1, cancelled: 1, pending: 0 } });
  });

  it("refuses bad fan-out usage with exit 2", async () => {
    const hub = shared();
    const noValue = await cli(hub, ["query", "--label", "role", "select 1"]);
    expect(noValue.code).toBe(2);
    expect(noValue.stderr).toContain("--label takes k=v");
    const twoTargets = await cli(hub, ["query", "--label", "role=web", "agt_x", "select 1"]);
    expect(twoTargets.code).toBe(2);
    const noSql = await cli(hub, ["query", "--all"]);
    expect(noSql.code).toBe(2);
  });

  it("`uplink events --json --after 0` replays the stored events, then follows live ones until interrupted", async () => {
    const hub = await hubs.start({ logLevel: "info" });
    const [first] = await enrollFleet(hub, rawAgents.connect, [{ hostname: "ev-first" }]);
    first!.agent.onQuery = (c, a) => a.respond(c);
    const fanout = await cli(hub, ["--json", "query", "--all", "select 1"]);
    const fanoutId = JSON.parse(fanout.stdout.trimEnd().split("\n").at(-1)!).id as string;

    const follower = new EventsFollower(hub, ["--json", "--after", "0"]);
    const human = new EventsFollower(hub, ["--after", "0"]);
    try {
      // Replayed: the first agent's connection and the fan-out's end.
      await follower.waitForLog((l) => l.type === "agent.connected" && l.agentId === first!.agentId);
      const done = await follower.waitForLog((l) => l.type === "query.done" && l.fanoutId === fanoutId);
      expect(done).toMatchObject({ id: expect.stringMatching(/^\d+$/), fanoutId, targetCount: 1, counts: { ok: 1 }, at: expect.any(String) });
      await human.waitForLog((l) => l.msg.includes(`query.done fanoutId=${fanoutId} targetCount=1 counts={"pending":0,"ok":1`));

      // Live: a new agent connects and the first one goes away.
      const [second] = await enrollFleet(hub, rawAgents.connect, [{ hostname: "ev-second" }]);
      await first!.agent.terminate();
      await follower.waitForLog((l) => l.type === "agent.connected" && l.agentId === second!.agentId);
      await follower.waitForLog((l) => l.type === "agent.disconnected" && l.agentId === first!.agentId);
      const line = await human.waitForLog((l) => l.msg.includes(`agent.disconnected agentId=${first!.agentId}`));
      expect(line.msg).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z agent\.disconnected agentId=agt_\w+ replicaId=\S+$/);

      const ids = follower.logs.map((l: LogLine) => Number(l.id));
      expect(ids).toEqual([...ids].sort((a, b) => a - b));
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids[0]).toBe(1);
      expect(follower.logs.every((l) => typeof l.type === "string" && typeof l.at === "string")).toBe(true);
    } finally {
      const [a, b] = await Promise.all([follower.stop("SIGINT"), human.stop("SIGINT")]);
      expect(a.code).toBe(0);
      expect(b.code).toBe(0);
    }
    expect(follower.stderr).toBe("");
  });
});
