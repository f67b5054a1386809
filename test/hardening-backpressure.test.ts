import { describe, expect, it } from "vitest";
import { percentile, rssKiB, useAgentSockets } from "./fixtures/hardening.js";
import type { ApiResponse, ErrorBody, QueryAnswer } from "./fixtures/http.js";
import { useHubs } from "./fixtures/hub-process.js";
import { useRawAgents } from "./fixtures/raw-agent.js";
import { waitFor } from "./fixtures/wait.js";

type QueryResponse = ApiResponse<QueryAnswer & ErrorBody>;

/** A 60 KiB query: few enough requests fill the socket buffers quickly. */
const BIG_QUERY = `select '${"x".repeat(60 * 1024)}'`;

/** Runs `n` calls of `fn`, `concurrency` at a time; resolves with every result in order. */
async function pool<T>(n: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await fn(i);
      }
    }),
  );
  return out;
}

describe("Backpressure: an agent that stops reading cannot grow the hub's memory", () => {
  const hubs = useHubs();
  const sockets = useAgentSockets();
  const rawAgents = useRawAgents();

  it("fails new commands to it fast with 503 busy past the high-water mark, keeps the hub's memory bounded under a 117 MiB flood, and serves other agents meanwhile", async () => {
    // 256 KiB high water; a hard limit out of reach; pings rare, so only backpressure acts here.
    const hub = await hubs.start({ pingInterval: "60s", healthInterval: "60s", queryTimeout: "30s", logLevel: "info", args: ["--send-high-water", "262144", "--send-hard-limit", "268435456"] });
    const stuckId = await hub.api.enroll("stuck");
    const healthy = await rawAgents.enrolled(hub, "healthy", { onQuery: (c, a) => a.respond(c) });
    const stuck = await sockets.open(hub.agentUrl, stuckId.agentKey);
    await waitFor("stuck online", async () => (await hub.api.agent(stuckId.agentId)).body.status === "online");
    stuck.stopReading();

    // Warm the hub up on the same path before taking its memory baseline.
    await pool(200, 16, () => hub.api.query(healthy.agentId, { query: BIG_QUERY }));
    const baselineKiB = rssKiB(hub.pid);
    let peakKiB = baselineKiB;
    const sampler = setInterval(() => (peakKiB = Math.max(peakKiB, rssKiB(hub.pid))), 50);

    const FLOOD = 2000;
    const calls: Array<Promise<{ res: QueryResponse; ms: number }>> = [];
    const healthyStatuses: number[] = [];
    let halfwayKiB = 0;
    await pool(FLOOD, 32, async (i) => {
      if (i === FLOOD / 2) halfwayKiB = peakKiB;
      if (i % 100 === 0) healthyStatuses.push((await hub.api.query(healthy.agentId, { query: `select ${i}` })).status);
      const t0 = performance.now();
      // Commands that get through wait for their deadline (the agent reads nothing): never wait on them long.
      const call = hub.api.query(stuckId.agentId, { query: BIG_QUERY }).then((res) => ({ res, ms: performance.now() - t0 }));
      calls.push(call);
      await Promise.race([call, new Promise((r) => setTimeout(r, 250))]);
    });
    clearInterval(sampler);
    peakKiB = Math.max(peakKiB, rssKiB(hub.pid));
    const offeredMiB = (FLOOD * BIG_QUERY.length) / 2 ** 20;
    const grewMiB = (peakKiB - baselineKiB) / 1024;
    const secondHalfMiB = (peakKiB - halfwayKiB) / 1024;

    // Cutting the stuck agent fails every command that got through at once; the rest were answered busy.
    stuck.ws.terminate();
    const outcomes = await Promise.all(calls);
    const busy = outcomes.filter((o) => o.res.status === 503);
    const through = outcomes.filter((o) => o.res.status === 502);
    for (const o of busy) expect((o.res.body as ErrorBody).error.code).toBe("busy");
    for (const o of through) expect((o.res.body as ErrorBody).error.code).toBe("agent_disconnected");
    expect(busy.length + through.length).toBe(FLOOD);
    expect(busy.length).toBeGreaterThan(FLOOD * 0.8);
    // "Fast": answered at once, not at the 30 s deadline.
    expect(percentile(busy.map((o) => o.ms), 99)).toBeLessThan(5_000);
    expect(healthyStatuses.every((s) => s === 200)).toBe(true);

    console.log(`backpressure: offered ${offeredMiB.toFixed(0)} MiB to a stuck agent; ${through.length} commands got through, ${busy.length} answered busy; hub RSS ${baselineKiB >> 10} MiB → peak ${peakKiB >> 10} MiB (+${grewMiB.toFixed(1)} MiB, +${secondHalfMiB.toFixed(1)} MiB in the second half)`);
    expect(offeredMiB).toBeGreaterThan(110);
    // Bounded: far below what was offered, and flat — the second half of the flood adds next to nothing.
    expect(grewMiB).toBeLessThan(48);
    expect(secondHalfMiB).toBeLessThan(16);
  });

  it("terminates an agent whose unsent bytes pass the hard limit, failing what was pending with 502 at once", async () => {
    const hub = await hubs.start({ pingInterval: "60s", healthInterval: "60s", queryTimeout: "30s", logLevel: "info", args: ["--send-high-water", "1024", "--send-hard-limit", "32768"] });
    const { agentId, agentKey } = await hub.api.enroll("stops-reading");
    const stuck = await sockets.open(hub.agentUrl, agentKey);
    await waitFor("online", async () => (await hub.api.agent(agentId)).body.status === "online");
    stuck.stopReading();

    const t0 = performance.now();
    let cut = false;
    const calls: Array<Promise<QueryResponse>> = [];
    for (let i = 0; i < 600 && !cut; i++) {
      const call = hub.api.query(agentId, { query: BIG_QUERY });
      calls.push(call);
      void call.then((res) => (cut ||= res.status === 502 || res.status === 409));
      await Promise.race([call, new Promise((r) => setTimeout(r, 10))]);
    }
    const seen = await Promise.all(calls);
    const elapsedMs = performance.now() - t0;
    const statuses = new Set(seen.map((r) => `${r.status} ${(r.body as ErrorBody).error?.code}`));

    expect(cut).toBe(true);
    expect(statuses.has("502 agent_disconnected")).toBe(true);
    // Nothing waited for its 30 s deadline, and nothing else happened to those commands.
    expect(elapsedMs).toBeLessThan(15_000);
    expect([...statuses].every((s) => ["502 agent_disconnected", "503 busy", "409 agent_offline"].includes(s))).toBe(true);
    const line = await hub.waitForLog({ msg: "agent stopped reading its socket; terminating", agentId });
    expect(line.bufferedBytes as number).toBeGreaterThan(32768);
    await waitFor("offline", async () => (await hub.api.agent(agentId)).body.status === "offline");
    stuck.resumeReading();
    expect(await stuck.closed).toBe(1006);
  });
});
