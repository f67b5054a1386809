import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { UUID_V4 } from "./fixtures/http.js";
import { useHubs, useSharedHub } from "./fixtures/hub-process.js";
import { uplink, uplinkHub } from "./fixtures/process.js";
import { useRawAgents } from "./fixtures/raw-agent.js";
import { waitFor } from "./fixtures/wait.js";
import type { AgentList, HistoryPage, QueryAnswer } from "../packages/protocol/dist/index.js";

describe("The operator CLI `uplink`", () => {
  const shared = useSharedHub();
  const rawAgents = useRawAgents();
  const cli = (args: string[], env?: Record<string, string>) => uplink(["--hub", shared().url, "--token", shared().adminToken, ...args], { env });

  it("lists agents as a table and as --json, filtered by status and label", async () => {
    const hub = shared();
    const { agentId } = await hub.api.enroll("cli-db", { role: "cli-db" });
    const web = await hub.api.enroll("cli-web", { role: "cli-web" });
    await rawAgents.connect(hub.agentUrl, { agentKey: web.agentKey, hostname: "cli-web" });
    await waitFor("cli-web online with its hello and a reply recorded", async () => {
      const { body } = await hub.api.agent(web.agentId);
      return body.agentVersion !== null && body.legacyShapes !== null;
    });

    const [table, json] = await Promise.all([cli(["agents"]), cli(["agents", "--json", "--status", "online", "--label", "role=cli-web"])]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^ID\s+HOSTNAME\s+STATUS\s+VERSION\s+PROTOCOL\s+SHAPE\s+LABELS\s+LAST SEEN$/);
    // What a host never reported reads "unknown"; a protocol-2 agent speaks the current reply shape.
    expect(lines.find((l) => l.startsWith(agentId))).toMatch(new RegExp(`^${agentId}\\s+cli-db\\s+offline\\s+unknown\\s+unknown\\s+unknown\\s+role=cli-db\\s+never$`));
    expect(lines.find((l) => l.startsWith(web.agentId))).toMatch(new RegExp(`^${web.agentId}\\s+cli-web\\s+online\\s+raw-agent/1\\.0\\s+2\\s+current\\s+role=cli-web\\s+\\d+s ago$`));

    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as AgentList;
    expect(parsed.agents.map((a) => [a.id, a.status])).toEqual([[web.agentId, "online"]]);
  });

  it("shows one agent with `agent <id>`, and exits 1 with the hub's error for an unknown one", async () => {
    const hub = shared();
    const { agentId } = await rawAgents.enrolled(hub, "cli-single");

    const [shown, json, unknown] = await Promise.all([cli(["agent", agentId]), cli(["--json", "agent", agentId]), cli(["agent", "agt_nobody"])]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`^id\\s+${agentId}$`, "m"));
    expect(shown.stdout).toMatch(/^hostname\s+cli-single$/m);
    expect(shown.stdout).toMatch(/^status\s+online$/m);
    expect(shown.stdout).toMatch(/^protocol\s+2$/m);

    expect(JSON.parse(json.stdout)).toMatchObject({ id: agentId, hostname: "cli-single", status: "online" });

    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("404 not_found");
    expect(unknown.stdout).toBe("");
  });

  it("runs `query` and prints the result table with the row count and correlationId, or --json", async () => {
    const hub = shared();
    const { agent, agentId } = await rawAgents.enrolled(hub, "cli-query", { onQuery: (c, a) => a.respond(c) });

    const [run, json] = await Promise.all([cli(["query", agentId, "select 'from the cli'"]), cli(["--json", "query", agentId, "select 'as json'"])]);
    expect(run.code).toBe(0);
    const command = agent.queries.find((c) => c.query === "select 'from the cli'")!;
    const lines = run.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^query\s+sessionId\s+correlationId$/);
    expect(lines[1]).toMatch(new RegExp(`^select 'from the cli'\\s+${command.sessionId}\\s+${command.correlationId}$`));
    expect(lines[2]).toMatch(new RegExp(`^1 row in \\d+\\.\\d ms · ${command.correlationId}$`));

    expect(json.code).toBe(0);
    const answer = JSON.parse(json.stdout) as QueryAnswer;
    expect(answer.correlationId).toMatch(UUID_V4);
    expect(answer).toMatchObject({ agentId, result: { rows: [["select 'as json'", expect.any(String), answer.correlationId]] } });
  });

  it("reads the query from -f FILE, so that it may begin with a -- comment", async () => {
    const hub = shared();
    const { agent, agentId } = await rawAgents.enrolled(hub, "cli-query-file", { onQuery: (c, a) => a.respond(c) });
    const dir = await mkdtemp(join(tmpdir(), "uplink-cli-query-"));
    try {
      const sql = "-- Fleet's queries often start with a comment\nselect 'from a file'";
      await writeFile(join(dir, "q.sql"), sql);
      const run = await cli(["query", agentId, "-f", join(dir, "q.sql")]);
      expect(run.code, run.stderr).toBe(0);
      expect(agent.queries.map((c) => c.query)).toContain(sql);
      const missing = await cli(["query", agentId, "-f", join(dir, "absent.sql")]);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain("cannot read the query file");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("exits 1 with the agent's error code and the correlationId when the query fails on the agent", async () => {
    const hub = shared();
    const { agentId } = await rawAgents.enrolled(hub, "cli-failing", {
      onQuery: (c, a) => a.respond(c, { ok: false, code: "unsupported_query", error: "only select 1 here" }),
    });
    const run = await cli(["query", agentId, "select * from everything"]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/502 unsupported_query: only select 1 here \(correlationId [0-9a-f-]{36}\)/);
  });

  it("exits 5 when the agent stays busy through the retries: a transient failure, worth trying again later", async () => {
    const hub = shared();
    let asked = 0;
    const { agentId } = await rawAgents.enrolled(hub, "cli-busy", {
      onQuery: (c, a) => {
        asked++;
        a.respond(c, { ok: false, code: "busy", error: "all workers taken" });
      },
    });
    const run = await cli(["query", agentId, "select 1"]);
    expect(run.code).toBe(5);
    expect(run.stderr).toMatch(/503 busy: all workers taken \(correlationId [0-9a-f-]{36}\)/);
    expect(asked).toBe(4);
  });

  it("prints the history as a table and as --json", async () => {
    const hub = shared();
    const { agentId } = await rawAgents.enrolled(hub, "cli-history", { onQuery: (c, a) => a.respond(c) });
    for (const q of ["select 'one'", "select 'two'"]) expect((await hub.api.query(agentId, { query: q })).status).toBe(200);

    const [table, paged, json] = await Promise.all([
      cli(["history", "--agent", agentId]),
      cli(["history", "--agent", agentId, "--limit", "1"]),
      cli(["history", "--agent", agentId, "--json"]),
    ]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^SEQ\s+TIME\s+AGENT\s+BY\s+STATUS\s+MS\s+QUERY$/);
    expect(lines.slice(1).map((l) => l.split(/\s{2,}/).at(-1))).toEqual(["select 'two'", "select 'one'"]);
    expect(lines[1]).toContain(`${agentId}  e2e-admin  ok`);

    expect(paged.stdout.trimEnd().split("\n").at(-1)).toMatch(/^more: --before \d+$/);

    const parsed = JSON.parse(json.stdout) as HistoryPage;
    expect(parsed.queries.map((q) => [q.query, q.status])).toEqual([
      ["select 'two'", "ok"],
      ["select 'one'", "ok"],
    ]);
    expect(parsed.nextBefore).toBeNull();
  });

  it("reads UPLINK_HUB and UPLINK_TOKEN, with flags taking precedence", async () => {
    const hub = shared();
    const [fromEnv, flagWins, badToken] = await Promise.all([
      uplink(["agents", "--json"], { env: { UPLINK_HUB: hub.url, UPLINK_TOKEN: hub.adminToken } }),
      uplink(["--token", hub.adminToken, "agents", "--json"], { env: { UPLINK_HUB: hub.url, UPLINK_TOKEN: "tok_wrong.secret" } }),
      uplink(["agents"], { env: { UPLINK_HUB: hub.url, UPLINK_TOKEN: "tok_wrong.secret" } }),
    ]);
    expect(fromEnv.code).toBe(0);
    expect(JSON.parse(fromEnv.stdout)).toHaveProperty("agents");

    expect(flagWins.code).toBe(0);

    expect(badToken.code).toBe(1);
    expect(badToken.stderr).toContain("401 unauthorized");
  });

  it("exits 2 on bad usage: no token, a bad hub URL, an unknown command, a missing argument", async () => {
    const hub = shared();
    const [noToken, badUrl, typo, missing] = await Promise.all([
      uplink(["--hub", hub.url, "agents"]),
      uplink(["--hub", "not a url", "--token", "t.t", "agents"]),
      cli(["agnets"]),
      cli(["query"]),
    ]);
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toContain("--token / UPLINK_TOKEN");

    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toContain("--hub / UPLINK_HUB");

    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("unknown command 'agnets'");

    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('give <agentId> "<sql>" (or <agentId> -f FILE)');
  });

  it("exits 3 when the hub cannot be reached", async () => {
    // Port 9 (discard): nothing listens there.
    const run = await uplink(["--hub", "http://127.0.0.1:9", "--token", shared().adminToken, "agents"]);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain("cannot reach the hub at http://127.0.0.1:9");
  });
});

describe("The hub CLI `uplink-hub`", () => {
  const hubs = useHubs();
  const rawAgents = useRawAgents();

  it("creates a token with `token create`, printing it as the last line (or a JSON object with --json), lists and revokes it", async () => {
    const hub = await hubs.start();
    const [plain, json, badScope, spare] = await Promise.all([
      uplinkHub(["token", "create", "--kind", "api", "--scope", "read", "--name", "ops", "--data-dir", hub.dataDir]),
      uplinkHub(["token", "create", "--kind", "enroll", "--name", "fleet", "--data-dir", hub.dataDir, "--json"]),
      uplinkHub(["token", "create", "--kind", "enroll", "--scope", "admin", "--name", "x", "--data-dir", hub.dataDir]),
      uplinkHub(["token", "create", "--kind", "api", "--scope", "admin", "--name", "spare", "--data-dir", hub.dataDir, "--json"]),
    ]);
    expect(plain.code).toBe(0);
    const token = plain.stdout.trimEnd().split("\n").at(-1)!;
    expect(token).toMatch(/^tok_[0-9a-f]+\.\S{32,}$/);
    expect((await hub.api.as(token).get("/api/v1/agents")).status).toBe(200);
    expect((await hub.api.as(token).get("/api/v1/tokens")).status).toBe(403);

    expect(json.code).toBe(0);
    const created = JSON.parse(json.stdout) as { id: string; token: string; kind: string; scope: string | null };
    expect(created).toMatchObject({ kind: "enroll", scope: null });
    expect(created.token.startsWith(`${created.id}.`)).toBe(true);
    expect((await hub.api.post("/api/v1/enroll", { token: created.token, hostname: "via-cli-token" }, { token: null })).status).toBe(201);

    const list = await uplinkHub(["token", "list", "--data-dir", hub.dataDir]);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(created.id);
    expect(list.stdout).not.toContain(created.token.split(".")[1]);
    expect(list.stdout).not.toContain(token.split(".")[1]);

    // Revoked straight in the store. (The hub trusts a token it has verified for a few seconds, so the
    // token revoked here is one it has not seen yet; REST revocation is immediate, see rest.test.ts.)
    const { id, token: spareToken } = JSON.parse(spare.stdout) as { id: string; token: string };
    const revoke = await uplinkHub(["token", "revoke", id, "--data-dir", hub.dataDir]);
    expect(revoke.code).toBe(0);
    expect(revoke.stdout).toContain(`revoked ${id}`);
    expect((await hub.api.as(spareToken).get("/api/v1/agents")).status).toBe(401);
    expect((await uplinkHub(["token", "revoke", id, "--data-dir", hub.dataDir])).code).toBe(1);

    expect(badScope.code).toBe(2);
    expect(badScope.stderr).toContain("--scope");
  });

  it("stops `serve` with exit 2 and a message naming the setting when a value is bad", async () => {
    const dataDir = await hubs.tempDir();
    const cases: { args: string[]; env?: Record<string, string>; names: string }[] = [
      { args: ["--port", "abc"], names: "--port" },
      { args: ["--port", "70000"], names: "--port" },
      { args: [], env: { UPLINK_HEALTH_INTERVAL: "xyz" }, names: "UPLINK_HEALTH_INTERVAL" },
      { args: ["--query-timeout", "0ms"], names: "--query-timeout" },
      { args: [], env: { WS_MAX_CLIENTS: "lots" }, names: "WS_MAX_CLIENTS" },
      { args: ["--log-level", "loud"], names: "--log-level" },
    ];
    // Six processes start at once: on a loaded machine that alone can take many seconds, so the limits are wide.
    const runs = await Promise.all(cases.map((c) => uplinkHub(["serve", "--host", "127.0.0.1", "--data-dir", dataDir, ...c.args], { env: c.env, timeoutMs: 60_000 })));
    runs.forEach((run, i) => {
      expect(run.code, JSON.stringify(cases[i])).toBe(2);
      expect(run.stderr, JSON.stringify(cases[i])).toContain(cases[i]!.names);
      expect(run.stdout).not.toContain("hub listening");
    });
  }, 120_000);

  it("applies serve's flags and their environment variables (flags win), as the welcome frame shows", async () => {
    const hub = await hubs.start({ healthInterval: "250ms", args: ["--max-inflight", "7"], env: { UPLINK_HEALTH_INTERVAL: "9s", UPLINK_MAX_INFLIGHT: "3" } });
    const { agent } = await rawAgents.enrolled(hub, "configured");
    const welcome = await agent.waitForFrame("welcome", (f) => f.type === "welcome");
    expect(welcome).toMatchObject({ protocol: 2, healthIntervalMs: 250, maxInflight: 7 });

    const fromEnv = await hubs.start({ queryTimeout: null, env: { UPLINK_MAX_INFLIGHT: "3", UPLINK_QUERY_TIMEOUT: "450ms" } });
    const second = await rawAgents.enrolled(fromEnv, "configured-by-env");
    expect(await second.agent.waitForFrame("welcome", (f) => f.type === "welcome")).toMatchObject({ maxInflight: 3 });
    const res = await fromEnv.api.query(second.agentId, { query: "select 'default deadline from env'" });
    expect(res.status).toBe(504);
    expect((await second.agent.waitForQuery("select 'default deadline from env'")).timeoutMs).toBe(450);
  });
});
