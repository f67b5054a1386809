import { stat } from "node:fs/promises";
import { hostname } from "node:os";
import { beforeAll, describe, expect, it } from "vitest";
import { agentBuilt, useAgentProcesses } from "./fixtures/agent-process.js";
import type { AgentView, ErrorBody, QueryAnswer } from "./fixtures/http.js";
import { useHubs, type HubProcess } from "./fixtures/hub-process.js";
import { uplink } from "./fixtures/process.js";
import { useRawAgents } from "./fixtures/raw-agent.js";
import { waitFor } from "./fixtures/wait.js";

/** Fast reconnects, so a restarted hub sees its agents back within a second or two. */
const FAST_RECONNECT = { UPLINK_RECONNECT_BASE_MS: "200", UPLINK_RECONNECT_CAP_MS: "1000" };

async function online(hub: HubProcess, agentId: string, since = 0): Promise<AgentView> {
  return waitFor(`agent ${agentId} online with a health result`, async () => {
    const { body } = await hub.api.agent(agentId);
    return body.status === "online" && body.lastHealth !== null && Date.parse(body.connectedAt ?? "") >= since ? body : undefined;
  });
}

describe("A real hub with a real agent", () => {
  const hubs = useHubs();
  const agents = useAgentProcesses();
  const rawAgents = useRawAgents();
  /** Hubs polling health every 300 ms, so a new agent shows its first health result quickly. */
  const startHub = (opts: Parameters<typeof hubs.start>[0] = {}) => hubs.start({ healthInterval: "300ms", ...opts });

  beforeAll(() => {
    if (!agentBuilt()) throw new Error("packages/agent is not built: run `pnpm build`");
  });

  /** Enrolls the real agent with the CLI and starts its daemon; resolves once the hub shows it online. */
  async function enrollAndRun(hub: HubProcess, labels: Record<string, string> = {}) {
    const state = await agents.statePath();
    const token = await hub.api.createToken("enroll");
    const enrolled = await agents.enroll({ hub: hub.url, token, state, labels });
    expect(enrolled.code, enrolled.stderr).toBe(0);
    const agentId = enrolled.stdout.trim().split("\n").at(-1)!;
    expect(agentId).toMatch(/^agt_/);
    const agent = agents.run({ state, env: FAST_RECONNECT });
    const view = await online(hub, agentId);
    return { state, agentId, agent, view };
  }

  it("enrolls through the CLI into a 0600 state file, runs, shows online, and answers `uplink query`", async () => {
    const hub = await startHub();
    const { state, agentId, view } = await enrollAndRun(hub, { role: "e2e" });

    expect((await stat(state)).mode & 0o777).toBe(0o600);
    expect(view).toMatchObject({ id: agentId, hostname: hostname(), status: "online", protocol: 2, labels: { role: "e2e" } });
    expect(view.agentVersion).toEqual(expect.any(String));
    expect(view.lastHealth).toMatchObject({ status: expect.stringMatching(/^(ok|degraded)$/), collectors: expect.arrayContaining(["host"]) });
    await hub.waitForLog((l) => l.msg === "agent hello" && l.agentId === agentId && l.hostname === hostname());

    const cli = (args: string[]) => uplink(args, { env: { UPLINK_HUB: hub.url, UPLINK_TOKEN: hub.adminToken } });
    const answered = await cli(["query", agentId, "select hostname from system_info"]);
    expect(answered.code, answered.stderr).toBe(0);
    expect(answered.stdout.split("\n")[0]).toMatch(/^hostname$/);
    expect(answered.stdout.split("\n")[1]).toBe(hostname());

    const json = await cli(["--json", "query", agentId, "select 1"]);
    expect(JSON.parse(json.stdout)).toMatchObject({ agentId, result: { columns: ["1"], rows: [[1]], rowCount: 1, truncated: false } });

    const refused = await cli(["query", agentId, "select * from no_such_table_anywhere"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/502 (unsupported_query|query_failed): .+ \(correlationId [0-9a-f-]{36}\)/);
    const rest = await hub.api.query(agentId, { query: "select * from no_such_table_anywhere" });
    expect(rest.status).toBe(502);
    expect((rest.body as ErrorBody).error.code).toMatch(/^(unsupported_query|query_failed)$/);
    expect(await hub.api.auditRow(rest.correlationId!)).toMatchObject({ status: "error", error: { code: (rest.body as ErrorBody).error.code } });
  });

  it("refuses enrollment with a bad token: exit 1, the hub's reason, and no state file", async () => {
    const hub = await startHub();
    const state = await agents.statePath();
    const refused = await agents.enroll({ hub: hub.url, token: "tok_forged.secret", state });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("401");
    expect(refused.stderr).toContain("invalid enrollment token");
    await expect(stat(state)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("stops on SIGTERM with exit 0, and the hub shows it offline", async () => {
    const hub = await startHub();
    const { agentId, agent } = await enrollAndRun(hub);
    expect((await agent.stop("SIGTERM")).code).toBe(0);
    await waitFor("the agent offline", async () => (await hub.api.agent(agentId)).body.status === "offline");
  });

  it("reconnects when a new hub starts on the same data dir and port after the old one got SIGTERM", async () => {
    const first = await startHub();
    const { agentId, agent } = await enrollAndRun(first);

    const exit = await hubs.stop(first);
    expect(exit.code).toBe(0);
    await agent.waitForLog((l) => l.msg === "hub connection backoff" && l.code === 1001 && l.restarting === true);

    const restartedAt = Date.now();
    const second = await startHub({ dataDir: first.dataDir, port: first.port });
    expect(second.port).toBe(first.port);
    await online(second, agentId, restartedAt);
    const res = await second.api.query(agentId, { query: "select 1" });
    expect(res.status).toBe(200);
    expect((res.body as QueryAnswer).result.rows).toEqual([[1]]);
    expect(agent.running).toBe(true);
  });

  it("stops the agent with a non-zero exit and a clear message when it is revoked", async () => {
    const hub = await startHub();
    const { agentId, agent } = await enrollAndRun(hub);
    expect((await hub.api.delete(`/api/v1/agents/${agentId}`)).status).toBe(204);
    const exit = await agent.exited;
    expect(exit.code).not.toBe(0);
    expect(exit.code).not.toBeNull();
    expect(agent.stderr).toMatch(/revoked/);
  });

  it("fails pending commands at once with 503 hub_shutting_down on SIGTERM, and the hub exits 0 within 5 s", async () => {
    const hub = await startHub({ queryTimeout: "20s" });
    const { agent, agentId } = await rawAgents.enrolled(hub, "never-answers");

    const calls = Array.from({ length: 3 }, (_, i) => hub.api.query(agentId, { query: `select ${i}` }));
    await agent.waitForQueries(3);
    const t0 = performance.now();
    const [exit, ...responses] = await Promise.all([hubs.stop(hub, 5_000), ...calls]);
    const elapsed = performance.now() - t0;

    expect(exit.code, hub.stderr).toBe(0);
    for (const res of responses) {
      expect(res.status, res.text).toBe(503);
      expect((res.body as ErrorBody).error.code).toBe("hub_shutting_down");
      expect(res.correlationId).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect(elapsed).toBeLessThan(5_000);
    expect((await agent.closed).code).toBe(1001);
  });
});
