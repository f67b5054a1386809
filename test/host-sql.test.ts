import { createServer, type Server } from "node:net";
import { hostname } from "node:os";
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
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
  });

  async function agent(): Promise<string> {
    if (agentId !== "") return agentId;
    const state = await agents.statePath();
    const enrolled = await agents.enroll({ hub: hub().url, token: await hub().api.createToken("enroll"), state });
    expect(enrolled.code, enrolled.stderr).toBe(0);
    const id = enrolled.stdout.trim().split("\n").at(-1)!;
    agents.run({ state });
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
    for (const table of HOST_TABLES) {
      const res = await query(`select * from ${table.name} limit 1`);
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

    const listening = await query(`select protocol, address, port, pid from listening_ports where port = ${port}`);
    expect(listening.status, listening.text).toBe(200);
    expect(listening.body.result.rows).toContainEqual([expect.stringMatching(/^tcp/), "127.0.0.1", port, process.pid]);

    const info = await query("select hostname from system_info");
    expect(info.body.result.rows).toEqual([[hostname()]]);
  });

  it.each([
    ["insert into users values (1)"],
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

  it("cuts results at the agent's row cap and says so", async () => {
    const res = await query("with recursive c(x) as (select 1 union all select x + 1 from c where x < 20000) select x from c");
    expect(res.status, res.text).toBe(200);
    expect(res.body.result).toMatchObject({ rowCount: 10_000, truncated: true });
  });
});
