import { beforeAll, describe, expect, it } from "vitest";
import { agentBuilt, useAgentProcesses } from "./fixtures/agent-process.js";
import { enrollMany } from "./fixtures/hardening.js";
import { useHubs } from "./fixtures/hub-process.js";
import { totals, useSwarms } from "./fixtures/swarm.js";
import { sleep, waitFor } from "./fixtures/wait.js";

const AGENTS = 2_000;
const PROCESSES = 4;
/** The hubs of this file enroll thousands of agents from one address, and poll health rarely. */
const HUB = { healthInterval: "10s", pingInterval: "5s", logLevel: "info" as const, args: ["--enroll-rate", "1000000"] };

describe("Restart storm", () => {
  const hubs = useHubs();
  const swarms = useSwarms();
  const agents = useAgentProcesses();

  beforeAll(() => {
    if (!agentBuilt()) throw new Error("packages/agent is not built: run `pnpm build`");
  });

  it(`brings ${AGENTS} real sockets back after a hub restart on the same port and data dir: told 1001, retrying on the short restart schedule spread by jitter, none refused wrongly`, async () => {
    const first = await hubs.start(HUB);
    const ids = await enrollMany(first.api, AGENTS, "storm", 32);
    const fleet = await swarms.start({ url: first.agentUrl, keys: ids.map((i) => i.agentKey), baseMs: 1_000, capMs: 5_000, stableMs: 2_000 }, PROCESSES);
    await swarms.until(fleet, `${AGENTS} connected`, (t) => t.connected === AGENTS, 60_000);
    await waitFor("the hub counts them all", async () => (await first.api.metric("uplink_agents_connected")) === AGENTS, { timeoutMs: 10_000 });
    await sleep(2_200); // every connection is now stable: a drop starts the backoff over

    const t0 = performance.now();
    const exit = await hubs.stop(first, 6_000);
    const stoppedMs = performance.now() - t0;
    expect(exit.code, first.stderr).toBe(0);
    expect(stoppedMs).toBeLessThan(5_000);
    const second = await hubs.start({ ...HUB, dataDir: first.dataDir, port: first.port });
    const upMs = performance.now() - t0;
    await waitFor("all agents back online", async () => (await second.api.metric("uplink_agents_connected")) === AGENTS, { timeoutMs: 40_000, intervalMs: 100 });
    const allOnlineMs = performance.now() - t0;
    const after = await swarms.until(fleet, "the swarms agree", (t) => t.connected === AGENTS);

    // The first wait after the drop: uniform over [0, 1 s) for everyone — the hub's 1001 starts the backoff
    // over — and spread, not bunched (no 100 ms bucket holds more than a quarter of them).
    const firstWaits = after.firstRetryMs.reduce((a, b) => a + b, 0);
    expect(firstWaits).toBe(AGENTS);
    expect(after.firstRetryMaxMs).toBeLessThan(1_000);
    expect(Math.max(...after.firstRetryMs) / firstWaits).toBeLessThan(0.25);
    // Every agent heard the hub's 1001 (a large fleet is cut 300 ms after its close frames, unread replies and all).
    expect(after.closeCodes).toEqual({ "1001": AGENTS });
    // None refused wrongly: no 401/403 (a 503 while the old hub was stopping is a right answer), nobody gave up.
    expect(after.refused["401"] ?? 0).toBe(0);
    expect(after.refused["403"] ?? 0).toBe(0);
    expect(after.stopped).toBe(0);
    expect(after.retryAfterViolations).toBe(0);
    // Every agent waited on the restart schedule (its cap 8 s, not 60) while the hub was down.
    expect(after.restartWaits).toBeGreaterThanOrEqual(AGENTS);
    expect(allOnlineMs - upMs).toBeLessThan(30_000);

    const summary = {
      agents: AGENTS,
      oldHubStoppedMs: Math.round(stoppedMs),
      newHubListeningMs: Math.round(upMs),
      allOnlineMs: Math.round(allOnlineMs),
      allOnlineAfterListeningMs: Math.round(allOnlineMs - upMs),
      attempts: after.attempts,
      refused: after.refused,
      connectErrors: after.errors,
      restartWaits: after.restartWaits,
      paced: after.refused["503"] ?? 0,
    };
    console.log(`restart storm: ${JSON.stringify(summary)}`);
  });

  it("honours Retry-After at the admission cap: refused agents wait at least the 5 s they are told, then take freed slots", async () => {
    const hub = await hubs.start({ ...HUB, args: [...HUB.args, "--max-agents", "20"] });
    const ids = await enrollMany(hub.api, 25, "capped");
    const [swarm] = await swarms.start({ url: hub.agentUrl, keys: ids.map((i) => i.agentKey), baseMs: 100, capMs: 400, stableMs: 60_000 });
    await swarms.until([swarm!], "20 in, 5 refused", (t) => t.connected === 20 && (t.refused["503"] ?? 0) >= 5);
    const refusedAt = performance.now();
    await sleep(2_000);
    // With a 100–400 ms backoff they would have tried again several times by now; Retry-After: 5 holds them.
    let t = totals([swarm!]);
    expect(t.refused["503"]).toBe(5);
    swarm!.send({ cmd: "drop", n: 5 });
    t = await swarms.until([swarm!], "the refused five admitted", (r) => r.everConnected === 25, 15_000);
    expect(performance.now() - refusedAt).toBeGreaterThan(4_000);
    expect(t.retryAfterViolations).toBe(0);
    expect(t.refused["401"] ?? 0).toBe(0);
  });

  it("a real agent refused at the cap waits the Retry-After it was given before trying again", async () => {
    const hub = await hubs.start({ ...HUB, args: [...HUB.args, "--max-agents", "1"] });
    const [holder] = await enrollMany(hub.api, 1, "holder");
    const [swarm] = await swarms.start({ url: hub.agentUrl, keys: [holder!.agentKey] });
    await swarms.until([swarm!], "the slot taken", (r) => r.connected === 1);

    const state = await agents.statePath();
    expect((await agents.enroll({ hub: hub.url, token: await hub.api.createToken("enroll"), state })).code).toBe(0);
    const agent = agents.run({ state, env: { UPLINK_RECONNECT_BASE_MS: "100", UPLINK_RECONNECT_CAP_MS: "200" } });
    const backoff = await agent.waitForLog((l) => l.msg === "hub connection backoff" && l.status === 503);
    expect(backoff).toMatchObject({ retryAfterMs: 5_000 });
    expect(backoff.delayMs as number).toBeGreaterThanOrEqual(5_000);
    swarm!.send({ cmd: "drop", n: 1 });
    await agent.waitForLog("hub connection open", 10_000);
    const attempts = agent.logsMatching("hub connection connecting").map((l) => Date.parse(String(l.time)));
    expect(attempts.length).toBe(2);
    expect(attempts[1]! - attempts[0]!).toBeGreaterThanOrEqual(5_000);
  });
});
