import { beforeAll, describe, expect, it } from "vitest";
import { agentBuilt, useAgentProcesses } from "./fixtures/agent-process.js";
import type { ErrorBody, QueryAnswer } from "./fixtures/http.js";
import { useHubs } from "./fixtures/hub-process.js";
import { useAgentSockets } from "./fixtures/hardening.js";
import { waitFor } from "./fixtures/wait.js";

const PING_MS = 300;

describe("Liveness (rule 11): half-open connections are cut on both sides", () => {
  const hubs = useHubs();
  const sockets = useAgentSockets();
  const agents = useAgentProcesses();

  beforeAll(() => {
    if (!agentBuilt()) throw new Error("packages/agent is not built: run `pnpm build`");
  });

  for (const kind of ["never pongs", "stopped reading its socket"] as const) {
    it(`hub side: terminates an agent that ${kind} within the ping interval plus grace, failing its pending command`, async () => {
      const hub = await hubs.start({ pingInterval: `${PING_MS}ms`, queryTimeout: "15s", healthInterval: "60s" });
      const { agentId, agentKey } = await hub.api.enroll(`half-open-${kind.split(" ")[0]}`);
      let queried = false;
      const agent = await sockets.open(hub.agentUrl, agentKey, { autoPong: kind !== "never pongs", onMessage: (f) => (queried ||= f.type === "session_command") });
      await waitFor("online", async () => (await hub.api.agent(agentId)).body.status === "online");

      const t0 = performance.now();
      if (kind === "stopped reading its socket") agent.stopReading();
      const pending = hub.api.query(agentId, { query: "select 'stranded'" });
      if (kind === "never pongs") await waitFor("the query delivered", () => queried);
      const res = await pending;
      const failedAfterMs = performance.now() - t0;

      expect(res.status).toBe(502);
      expect((res.body as ErrorBody).error.code).toBe("agent_disconnected");
      // No pong by the next sweep: at most two intervals after the peer went quiet, plus scheduling slack.
      expect(failedAfterMs).toBeLessThan(2 * PING_MS + 700);
      await hub.waitForLog({ msg: "no pong since the last ping; terminating", agentId });
      await waitFor("offline", async () => (await hub.api.agent(agentId)).body.status === "offline");
      if (kind === "stopped reading its socket") agent.resumeReading();
      expect(await agent.closed).toBe(1006);
      expect(await hub.api.auditRow(res.correlationId!)).toMatchObject({ status: "error", error: { code: "agent_disconnected" } });
    });
  }

  it("agent side: a real agent that hears no ping drops the socket within its timeout, its running query fails at once, and it reconnects", async () => {
    // The hub pings once a minute; the agent expects a ping within 700 ms.
    const hub = await hubs.start({ pingInterval: "60s", queryTimeout: "15s", healthInterval: "60s", logLevel: "info" });
    const state = await agents.statePath();
    const enrolled = await agents.enroll({ hub: hub.url, token: await hub.api.createToken("enroll"), state });
    expect(enrolled.code, enrolled.stderr).toBe(0);
    const agentId = enrolled.stdout.trim().split("\n").at(-1)!;
    const agent = agents.run({ state, args: ["--ping-timeout-ms", "700"], env: { UPLINK_RECONNECT_BASE_MS: "100", UPLINK_RECONNECT_CAP_MS: "200" } });
    await agent.waitForLog("hub connection open");
    const opened = performance.now();

    // A query that runs until it is killed: in flight when the watchdog fires.
    const res = await hub.api.query(agentId, { query: "with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c" });
    const failedAfterMs = performance.now() - opened;
    expect(res.status, res.text).toBe(502);
    expect((res.body as ErrorBody & QueryAnswer).error.code).toBe("agent_disconnected");
    expect(failedAfterMs).toBeLessThan(700 + 1_000);
    const dropped = await agent.waitForLog("no ping from the hub; dropping the connection");
    expect(dropped.pingTimeoutMs).toBe(700);
    await agent.waitForLog((l) => l.msg === "aborting running queries" && l.count === 1);

    // It comes back on its own (and is dropped again a moment later, since the hub still does not ping).
    await waitFor("a second connection", () => hub.logsMatching({ msg: "agent connected", agentId }).length >= 2, { timeoutMs: 5_000 });
    expect(agent.running).toBe(true);
  });
});
