import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, realpath, rm, truncate, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { hostname, release, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { HOST_TABLES } from "../packages/agent/src/sql/tables/index.js";
import { agentBuilt, useAgentProcesses } from "./fixtures/agent-process.js";
import type { AgentView } from "./fixtures/http.js";
import { useSharedHub, type HubProcess } from "./fixtures/hub-process.js";
import { waitFor } from "./fixtures/wait.js";

const RUNAWAY = "with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c";

describe("The host SQL engine through a real hub", () => {
  // Health polls every second (each with a one-second deadline): the runaway test checks that none of them
  // waits behind a query, with room for a loaded machine.
  const hub = useSharedHub({ healthInterval: "1s" });
  const agents = useAgentProcesses();
  let agentId = "";
  const servers: Server[] = [];

  beforeAll(() => {
    if (!agentBuilt()) throw new Error("packages/agent is not built: run `pnpm build`");
  });
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
    await Promise.all(
      children.splice(0).map((c) => new Promise((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve(null) : (c.once("exit", resolve), c.kill("SIGKILL"))))),
    );
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });

  async function agent(runArgs: string[] = []): Promise<string> {
    if (agentId !== "") return agentId;
    const state = await agents.statePath();
    const enrolled = await agents.enroll({ hub: hub().url, token: await hub().api.createToken("enroll"), state });
    expect(enrolled.code, enrolled.stderr).toBe(0);
    const id = enrolled.stdout.trim().split("\n").at(-1)!;
    agents.run({ state, args: runArgs });
    agentId = id;
    await waitFor(`agent ${id} online`, async () => (await hub().api.agent(id)).body.status === "online");
    return id;
  }

  async function query(sql: string, timeoutMs?: number) {
    const id = await agent();
    return hub().api.query(id, { query: sql, ...(timeoutMs ? { timeoutMs } : {}) });
  }

  // Each test runs its own agent process (the fixture stops daemons after every test).
  afterEach(() => {
    agentId = "";
  });

  it("answers `select * … limit 1` on every table, with the columns its definition names", async () => {
    await agent(["--enable-secret-tables"]);
    for (const table of HOST_TABLES) {
      const where = table.constraints === undefined ? "" : " where path = '/etc/passwd'";
      const res = await query(`select * from ${table.name}${where} limit 1`);
      expect(res.status, `${table.name}: ${res.text}`).toBe(200);
      expect(res.body.result.columns, table.name).toEqual(table.columns.map((c) => c.name));
      expect(res.body.result.rowCount, table.name).toBeLessThanOrEqual(1);
    }
    // One round trip per table, one after the other: the budget grows with the table list (10 s each, for
    // a loaded machine), not with any one query.
  }, HOST_TABLES.length * 10_000);

  it("reads live host data: this process, a port it listens on, and the hostname", async () => {
    const server = createServer();
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;

    const me = await query(`select pid, name from processes where pid = ${process.pid}`);
    expect(me.status, me.text).toBe(200);
    expect(me.body.result.rows).toEqual([[process.pid, expect.any(String)]]);

    const listening = await query(`select protocol, family, address, port, pid from listening_ports where port = ${port} and protocol = 6`);
    expect(listening.status, listening.text).toBe(200);
    expect(listening.body.result.rows).toContainEqual([6, 2, "127.0.0.1", port, process.pid]);

    const info = await query("select hostname from system_info");
    expect(info.body.result.rows).toEqual([[hostname()]]);

    const kernel = await query("select version from kernel_info");
    expect(kernel.body.result.rows).toEqual([[release()]]);
  });

  it("answers file and hash for a file the test writes, matching node:crypto", async () => {
    const dir = await mkdtemp(join(tmpdir(), "uplink-host-sql-"));
    dirs.push(dir);
    const content = `uplink ${process.pid} ${Date.now()}\n`;
    await writeFile(join(dir, "probe.txt"), content);
    const digest = (alg: string): string => createHash(alg).update(content).digest("hex");

    const file = await query(`-- a leading comment, as Fleet's queries have\nselect path, directory, filename, size, type from file where path in ('${dir}/probe.txt', '${dir}/absent')`);
    expect(file.status, file.text).toBe(200);
    expect(file.body.result.rows).toEqual([[`${dir}/probe.txt`, dir, "probe.txt", Buffer.byteLength(content), "regular"]]);

    const hash = await query(`select md5, sha1, sha256 from hash where path in (select path from file where directory = "${dir}")`);
    expect(hash.status, hash.text).toBe(200);
    expect(hash.body.result.rows).toEqual([[digest("md5"), digest("sha1"), digest("sha256")]]);

    const refused = await query("select * from file");
    expect(refused.status, refused.text).toBe(502);
    expect(refused.body.error.message).toContain("file requires a constraint on path or directory");
  });

  it("shows a process it spawns (parent, cwd) and, once enabled, its environment", async () => {
    const cwd = await mkdtemp(join(tmpdir(), "uplink-host-sql-cwd-"));
    dirs.push(cwd);
    const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { cwd, env: { ...process.env, UPLINK_PROBE: "probe-value" }, stdio: "ignore" });
    children.push(child);
    await agent(["--enable-secret-tables"]);
    const seen = await query(`select parent, cwd, uid from processes where pid = ${child.pid}`);
    expect(seen.status, seen.text).toBe(200);
    expect(seen.body.result.rows).toEqual([[process.pid, await realpath(cwd), process.getuid?.() ?? null]]);
    const env = await query(`select value from process_envs where pid = ${child.pid} and key = 'UPLINK_PROBE'`);
    expect(env.status, env.text).toBe(200);
    expect(env.body.result.rows).toEqual([["probe-value"]]);
  });

  it("refuses a secret table while the setting is off, naming it", async () => {
    const res = await query("select * from process_envs limit 1");
    expect(res.status, res.text).toBe(502);
    expect(res.body.error.message).toContain("--enable-secret-tables / UPLINK_ENABLE_SECRET_TABLES");
  });

  it("lists the users of /etc/passwd", async () => {
    const expected = (await readFile("/etc/passwd", "utf8"))
      .split("\n")
      .filter((l) => /^[^#+-][^:]*:[^:]*:\d+:\d+:/.test(l))
      .map((l) => [l.split(":")[0], Number(l.split(":")[2])]);
    const res = await query("select username, uid from users");
    expect(res.status, res.text).toBe(200);
    expect(res.body.result.rows).toEqual(expected);
  });

  it("reads authorized_keys under the host root", async () => {
    const root = await mkdtemp(join(tmpdir(), "uplink-host-root-"));
    dirs.push(root);
    await mkdir(join(root, "etc"));
    await mkdir(join(root, "home/alice/.ssh"), { recursive: true });
    await writeFile(join(root, "etc/passwd"), "alice:x:4242:4242:Alice:/home/alice:/bin/sh\n");
    const key = "AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLEKEYEXAMPLEKEYEXAMPLEKEYEXAMPLEKEY";
    await writeFile(join(root, "home/alice/.ssh/authorized_keys"), `# keys\nfrom="10.0.0.0/8" ssh-ed25519 ${key} alice@laptop\n`);
    await agent(["--enable-secret-tables", "--host-root", root]);
    const res = await query("select uid, algorithm, key, options, comment, key_file from authorized_keys");
    expect(res.status, res.text).toBe(200);
    expect(res.body.result.rows).toEqual([[4242, "ssh-ed25519", key, 'from="10.0.0.0/8"', "alice@laptop", "/home/alice/.ssh/authorized_keys"]]);
  });

  it("reads crontabs under the host root: the system crontab, cron.d and a user's crontab", async () => {
    const root = await mkdtemp(join(tmpdir(), "uplink-host-root-"));
    dirs.push(root);
    await mkdir(join(root, "etc/cron.d"), { recursive: true });
    await mkdir(join(root, "var/spool/cron/crontabs"), { recursive: true });
    await writeFile(join(root, "etc/crontab"), "SHELL=/bin/sh\n# m h dom mon dow user command\n17 * * * * root cd / && run-parts --report /etc/cron.hourly\n");
    await writeFile(join(root, "etc/cron.d/backup"), "@daily backup /usr/local/bin/backup --all\n");
    await writeFile(join(root, "var/spool/cron/crontabs/alice"), "*/5 9-17 * * 1-5 /home/alice/bin/poll\n");
    await agent(["--host-root", root]);
    const res = await query("select event, minute, hour, day_of_month, month, day_of_week, command, path from crontab order by path");
    expect(res.status, res.text).toBe(200);
    expect(res.body.result.rows).toEqual([
      ["@daily", null, null, null, null, null, "backup /usr/local/bin/backup --all", "/etc/cron.d/backup"],
      [null, "17", "*", "*", "*", "*", "root cd / && run-parts --report /etc/cron.hourly", "/etc/crontab"],
      [null, "*/5", "9-17", "*", "*", "1-5", "/home/alice/bin/poll", "/var/spool/cron/crontabs/alice"],
    ]);
  });

  it.each([
    ["insert into users values (1)"],
    ["-- a comment first\ndelete from users"],
    ["attach database '/tmp/uplink-attach.db' as x"],
    ["pragma writable_schema = 1"],
    ["select load_extension('/tmp/nope')"],
  ])("refuses %s with 502 read_only", async (sql) => {
    const res = await query(sql);
    expect(res.status, res.text).toBe(502);
    expect(res.body.error.code).toBe("read_only");
  });

  it("kills a runaway query at its deadline while health polls every second keep being answered", async () => {
    const id = await agent();
    const failuresBefore = await hub().api.metric("uplink_health_poll_failures_total");
    const seenBefore = Date.parse((await hub().api.agent(id)).body.lastSeenAt ?? "0");
    const started = performance.now();
    const res = await query(RUNAWAY, 3000);
    const elapsed = performance.now() - started;
    expect(res.status, res.text).toBe(504);
    expect(res.body.error.code).toBe("timeout");
    // Not before its deadline; and ended by it (the query itself never ends), with room for a loaded machine.
    expect(elapsed).toBeGreaterThan(2500);
    expect(elapsed).toBeLessThan(15_000);

    // About three polls fell due during the runaway; every one was answered in time (no failure counted)
    // and moved lastSeenAt on.
    expect(await hub().api.metric("uplink_health_poll_failures_total")).toBe(failuresBefore);
    const view: AgentView = (await hub().api.agent(id)).body;
    expect(view.status).toBe("online");
    expect(Date.parse(view.lastSeenAt ?? "0")).toBeGreaterThan(seenBefore + 1000);

    // The killed worker was replaced: the next query is answered.
    const after = await query("select 1 as one");
    expect(after.status, after.text).toBe(200);
    expect(after.body.result.rows).toEqual([[1]]);
  });

  it("kills hashing of a huge file at its deadline while health polls keep being answered", async () => {
    const id = await agent();
    const dir = await mkdtemp(join(tmpdir(), "uplink-host-sql-huge-"));
    dirs.push(dir);
    // A sparse 64 GiB file: no disk used, minutes of hashing.
    await writeFile(join(dir, "huge.bin"), "");
    await truncate(join(dir, "huge.bin"), 64 * 1024 ** 3);
    const failuresBefore = await hub().api.metric("uplink_health_poll_failures_total");
    const res = await query(`select sha256 from hash where path = '${dir}/huge.bin'`, 3000);
    expect(res.status, res.text).toBe(504);
    expect(res.body.error.code).toBe("timeout");
    expect(await hub().api.metric("uplink_health_poll_failures_total")).toBe(failuresBefore);
    expect((await hub().api.agent(id)).body.status).toBe("online");
    const after = await query(`select count(*) from file where path = '${dir}/huge.bin'`);
    expect(after.status, after.text).toBe(200);
    expect(after.body.result.rows).toEqual([[1]]);
  });

  it("cuts results at the agent's row cap and says so", async () => {
    const res = await query("with recursive c(x) as (select 1 union all select x + 1 from c where x < 20000) select x from c");
    expect(res.status, res.text).toBe(200);
    expect(res.body.result).toMatchObject({ rowCount: 10_000, truncated: true });
  });
});
