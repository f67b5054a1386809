import { beforeAll, describe, expect, it } from "vitest";
import { agentBuilt, useAgentProcesses } from "./fixtures/agent-process.js";
import type { AgentView, ErrorBody } from "./fixtures/http.js";
import { useHubs, type HubProcess } from "./fixtures/hub-process.js";
import { waitFor } from "./fixtures/wait.js";

/**
 * The real agent's bounds, through a real hub: query workers bounded in memory (`resource_limit`, the
 * worker replaced, health answered throughout), pragma tables refused however they are spelled, and the
 * hub's maxInflight followed up to the agent's own --max-workers, beyond which the answer is `busy` at once.
 */

const BIG_BLOBS = "select length(randomblob(250000000)) + length(randomblob(250000000))";
const ZEROBLOB_CTE =
  "with recursive x(n, b) as (select 1, zeroblob(50000000) union all select n + 1, zeroblob(50000000) from x where n < 40) " +
  "select count(*), sum(length(b)) from (select * from x order by n desc)";
const RUNAWAY = "with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c";

describe.runIf(process.platform === "linux")("the real agent's bounds", () => {
  const hubs = useHubs();
  const agents = useAgentProcesses();

  beforeAll(() => {
    if (!agentBuilt()) throw new Error("packages/agent is not built: run `pnpm build`");
  });

  async function agentOn(hub: HubProcess, env: Record<string, string> = {}): Promise<string> {
    const state = await agents.statePath();
    const enrolled = await agents.enroll({ hub: hub.url, token: await hub.api.createToken("enroll"), state });
    expect(enrolled.code, enrolled.stderr).toBe(0);
    const agentId = enrolled.stdout.trim().split("\n").at(-1)!;
    agents.run({ state, env });
    await waitFor(`agent ${agentId} online with health`, async () => {
      const { body } = await hub.api.agent(agentId);
      return body.status === "online" && body.lastHealth !== null;
    });
    return agentId;
  }

  it("refuses memory-hungry queries with resource_limit, replaces the worker, and answers health and other queries throughout", async () => {
    const hub = await hubs.start({ healthInterval: "200ms", queryTimeout: "30s" });
    const agentId = await agentOn(hub, { UPLINK_WORKER_MEMORY_MB: "128" });
    const seenBefore = Date.parse((await hub.api.agent(agentId)).body.lastSeenAt ?? "");

    for (const query of [BIG_BLOBS, ZEROBLOB_CTE]) {
      const hungry = hub.api.query(agentId, { query, timeoutMs: 30_000 });
      // Another query and the health polls are served while the hungry one grows and is killed.
      const other = await hub.api.query(agentId, { query: "select 6 * 7 as answer" });
      expect(other.status).toBe(200);
      const refused = await hungry;
      expect(refused.status, refused.text).toBe(502);
      expect((refused.body as ErrorBody).error).toMatchObject({ code: "resource_limit", message: expect.stringMatching(/memory limit of 128 MiB/) });
      expect(await hub.api.auditRow(refused.correlationId!)).toMatchObject({ status: "error", error: { code: "resource_limit" } });
      const after = await hub.api.query(agentId, { query: "select 1 as one" });
      expect(after.status).toBe(200);
      expect(after.body.result.rows).toEqual([[1]]);
    }
    const view: AgentView = (await hub.api.agent(agentId)).body;
    expect(view.status).toBe("online");
    expect(Date.parse(view.lastSeenAt ?? "")).toBeGreaterThan(seenBefore);
    expect(hub.logsMatching((l) => l.agentId === agentId && /unresponsive/.test(String(l.msg)))).toEqual([]);
  });

  it("refuses quoted, schema-qualified and table-valued pragma tables with read_only", async () => {
    const hub = await hubs.start();
    const agentId = await agentOn(hub);
    for (const query of [
      "select * from 'pragma_journal_mode'",
      "select * from 'pragma_optimize'(65538)",
      "select * from main.\"pragma_journal_mode\"('off')",
      "select * from [PRAGMA_USER_VERSION](7)",
    ]) {
      const refused = await hub.api.query(agentId, { query });
      expect(refused.status, query).toBe(502);
      expect((refused.body as ErrorBody).error.code, query).toBe("read_only");
    }
    expect((await hub.api.query(agentId, { query: "select count(*) > 0 from 'pragma_table_info'('processes')" })).status).toBe(200);
  });

  it("follows the hub's maxInflight up to --max-workers and answers busy at once beyond it", async () => {
    const hub = await hubs.start({ args: ["--max-inflight", "12"], queryTimeout: "30s" });
    const agentId = await agentOn(hub, { UPLINK_MAX_WORKERS: "2" });
    const runaways = [1, 2].map(() => hub.api.query(agentId, { query: RUNAWAY, timeoutMs: 3_000 }));
    await waitFor("two queries running on the agent", async () => {
      const r = await hub.api.query(agentId, { query: "select 1" });
      return r.status === 503 ? r : undefined;
    });
    const busy = await hub.api.query(agentId, { query: "select 2" });
    expect(busy.status).toBe(503);
    expect((busy.body as ErrorBody).error).toMatchObject({ code: "busy", message: "the agent already runs 2 queries" });
    for (const r of await Promise.all(runaways)) expect(r.status).toBe(504);
  });
});
