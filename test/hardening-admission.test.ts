import { describe, expect, it } from "vitest";
import { enrollMany } from "./fixtures/hardening.js";
import { useHubs } from "./fixtures/hub-process.js";
import { RawAgent, UpgradeRefused, useRawAgents } from "./fixtures/raw-agent.js";
import { waitFor } from "./fixtures/wait.js";

/** Enrollment is rate-limited per address; these hubs enroll hundreds of agents from one. */
const FAST_ENROLL = ["--enroll-rate", "1000000"];

describe("Admission cap (WS_MAX_CLIENTS / --max-agents)", () => {
  const hubs = useHubs();
  const rawAgents = useRawAgents();

  /** Attempts an upgrade; resolves with the open agent or the refusal. */
  async function attempt(url: string, agentKey: string, opts: { hello?: boolean } = {}): Promise<RawAgent | UpgradeRefused> {
    try {
      return await rawAgents.connect(url, { agentKey, ...opts });
    } catch (err) {
      if (err instanceof UpgradeRefused) return err;
      throw err;
    }
  }

  it("admits exactly the cap out of 20 simultaneous upgrades and refuses the rest with 503, Retry-After and a JSON error", async () => {
    const hub = await hubs.start({ args: ["--max-agents", "5", ...FAST_ENROLL], logLevel: "info" });
    const ids = await enrollMany(hub.api, 20, "race");
    const outcomes = await Promise.all(ids.map((id) => attempt(hub.agentUrl, id.agentKey)));

    const admitted = outcomes.filter((o): o is RawAgent => o instanceof RawAgent);
    const refused = outcomes.filter((o): o is UpgradeRefused => o instanceof UpgradeRefused);
    expect(admitted).toHaveLength(5);
    expect(refused).toHaveLength(15);
    for (const r of refused) {
      expect(r.status).toBe(503);
      expect(r.headers["retry-after"]).toBe("5");
      expect(r.json).toMatchObject({ error: { code: "busy", message: "hub is at its cap of 5 agents" } });
    }
    expect(await hub.api.metric("uplink_agents_connected")).toBe(5);
    expect(await hub.api.metric("uplink_agent_upgrades_refused_total", { status: "503" })).toBe(15);
  });

  it("lets refused attempts consume nothing: after 60 refusals at the cap, one freed slot admits exactly one more", async () => {
    const hub = await hubs.start({ args: ["--max-agents", "3", ...FAST_ENROLL], logLevel: "info" });
    const [a, b, c, d, e] = await enrollMany(hub.api, 5, "consume");
    const inside = await Promise.all([a!, b!, c!].map((id) => rawAgents.connect(hub.agentUrl, { agentKey: id.agentKey })));

    // Sequential and concurrent refusals alike.
    for (let i = 0; i < 30; i++) expect(await attempt(hub.agentUrl, d!.agentKey)).toMatchObject({ status: 503 });
    const burst = await Promise.all(Array.from({ length: 30 }, () => attempt(hub.agentUrl, e!.agentKey)));
    expect(burst.every((o) => o instanceof UpgradeRefused && o.status === 503)).toBe(true);

    await inside[0]!.close();
    await waitFor("d admitted into the freed slot", async () => (await attempt(hub.agentUrl, d!.agentKey)) instanceof RawAgent);
    expect(await attempt(hub.agentUrl, e!.agentKey)).toMatchObject({ status: 503 });
    expect(await hub.api.metric("uplink_agents_connected")).toBe(3);
  });

  for (const how of ["close", "terminate"] as const) {
    it(`releases the slot of an idle agent that never sent a frame within 2 s of its ${how === "close" ? "close handshake" : "TCP cut"}`, async () => {
      const hub = await hubs.start({ args: ["--max-agents", "1", ...FAST_ENROLL], healthInterval: "60s", logLevel: "info" });
      const [idle, waiting] = await enrollMany(hub.api, 2, "idle");
      const silent = await rawAgents.connect(hub.agentUrl, { agentKey: idle!.agentKey, hello: false, autoHealth: false });
      expect(await attempt(hub.agentUrl, waiting!.agentKey)).toMatchObject({ status: 503 });
      expect(silent.frames.map((f) => f.type)).toEqual(["welcome"]);

      const t0 = performance.now();
      if (how === "close") await silent.close();
      else await silent.terminate();
      await waitFor("the waiting agent admitted", async () => (await attempt(hub.agentUrl, waiting!.agentKey)) instanceof RawAgent, { timeoutMs: 5_000, intervalMs: 25 });
      const releasedAfterMs = performance.now() - t0;
      expect(releasedAfterMs).toBeLessThan(2_000);
    });
  }

  it("paces handshakes (--max-handshakes): past that many admitted agents yet to say hello, an upgrade gets 503 with a Retry-After of its turn, and a hello makes room", async () => {
    const hub = await hubs.start({ args: ["--max-handshakes", "3", ...FAST_ENROLL], healthInterval: "60s", logLevel: "info" });
    const [a, b, c, d] = await enrollMany(hub.api, 4, "paced");
    const silent = await Promise.all([a!, b!, c!].map((id) => rawAgents.connect(hub.agentUrl, { agentKey: id.agentKey, hello: false, autoHealth: false })));

    const paced = await attempt(hub.agentUrl, d!.agentKey);
    expect(paced).toBeInstanceOf(UpgradeRefused);
    expect(paced).toMatchObject({ status: 503, json: { error: { code: "busy", message: "hub is admitting other agents; retry at your turn" } } });
    // Its turn at the pace the hub admits: within the first second, as hardly anyone waits before it.
    expect((paced as UpgradeRefused).headers["retry-after"]).toBe("1");
    expect(await hub.api.metric("uplink_agent_upgrades_paced_total")).toBe(1);
    expect(await hub.api.metric("uplink_agents_connected")).toBe(3);

    silent[0]!.send({ type: "hello", protocol: 2, agentVersion: "1.0.0", hostname: "paced-0", platform: "linux", arch: "x64", labels: {}, capabilities: ["correlation-id"] });
    await waitFor("the fourth admitted once a handshake ended", async () => (await attempt(hub.agentUrl, d!.agentKey)) instanceof RawAgent);
    expect(await hub.api.metric("uplink_agents_connected")).toBe(4);
  });

  it("is unlimited when unset: 300 simultaneous upgrades are all admitted", async () => {
    const hub = await hubs.start({ args: FAST_ENROLL, healthInterval: "30s", logLevel: "info" });
    expect(hub.logsMatching("hub listening")[0]).toMatchObject({ maxAgents: 0 });
    const ids = await enrollMany(hub.api, 300, "unlimited", 24);
    const outcomes = await Promise.all(ids.map((id) => attempt(hub.agentUrl, id.agentKey)));
    expect(outcomes.filter((o) => o instanceof UpgradeRefused)).toEqual([]);
    await waitFor("300 agents connected", async () => (await hub.api.metric("uplink_agents_connected")) === 300);
    expect(await hub.api.metric("uplink_agent_upgrades_refused_total")).toBe(0);
  });

  it("treats a negative cap as 0 (unlimited), from the flag and from WS_MAX_CLIENTS", async () => {
    const fromEnv = await hubs.start({ env: { WS_MAX_CLIENTS: "-3" }, args: FAST_ENROLL, logLevel: "info" });
    const fromFlag = await hubs.start({ args: ["--max-agents=-1", ...FAST_ENROLL], logLevel: "info" });
    for (const hub of [fromEnv, fromFlag]) {
      expect(hub.logsMatching("hub listening")[0]).toMatchObject({ maxAgents: 0 });
      const ids = await enrollMany(hub.api, 6, "negative");
      const outcomes = await Promise.all(ids.map((id) => attempt(hub.agentUrl, id.agentKey)));
      expect(outcomes.every((o) => o instanceof RawAgent)).toBe(true);
    }
  });
});
