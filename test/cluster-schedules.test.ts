import { describe, expect, it } from "vitest";
import type { ScheduleResults, ScheduleRun, ScheduleView } from "../packages/protocol/dist/index.js";
import { useClusters, type ReplicaProcess } from "./fixtures/cluster.js";
import { useRawAgents, type HubCommand, type RawAgent } from "./fixtures/raw-agent.js";
import { sleep, waitFor } from "./fixtures/wait.js";

// Schedules in a 3-replica cluster (Redis + PostgreSQL): exactly one replica, the holder of the scheduler
// lease, runs them, sending to agents held by the other replicas; `kill -9` of the holder moves the runs to
// another replica within 5 s, which resumes from the store: no slot missing, none run twice.
const clusters = useClusters();
const raw = useRawAgents();

/** Answers after 900 ms: at almost any moment a run is in flight, so the holder dies with runs pending. */
const answer = (command: HubCommand, agent: RawAgent) => agent.later(900, () => agent.respond(command, { ok: true, result: { columns: ["n"], rows: [[1]], rowCount: 1, truncated: false } }));

async function runsOf(replica: ReplicaProcess, scheduleId: string, agentId: string): Promise<ScheduleRun[]> {
  const res = await replica.api.get(`/api/v1/schedules/${scheduleId}/results?agentId=${agentId}&limit=500`);
  if (res.status !== 200) throw new Error(`results: ${res.status} ${res.text}`);
  // In slot order: after a takeover the late slots are claimed one per tick over several store connections,
  // so their rows' seq (the listing's order) may come out of slot order.
  return [...(res.body as ScheduleResults).results].sort((a, b) => a.slot - b.slot);
}

/** The replicas that logged taking the schedules over, in order. */
const holders = (replicas: ReplicaProcess[]) =>
  replicas.flatMap((r) => r.logsMatching("this hub runs the schedules").map((line) => ({ replica: r, at: Date.parse(String(line.time)) }))).sort((a, b) => a.at - b.at);

describe("cluster mode: schedules", () => {
  it("runs each slot once on one replica; kill -9 of the lease holder moves the runs to another within 5 s with no slot missing and none doubled", async () => {
    const cluster = await clusters.start({ replicas: 3 });
    const replicas = cluster.replicas;
    const first = await waitFor("a replica holds the scheduler lease", () => holders(replicas)[0]);
    const others = replicas.filter((r) => r !== first.replica) as [ReplicaProcess, ReplicaProcess];
    // Agents on the two other replicas: every scheduled command crosses the bus.
    const agents = [await raw.enrolled(others[0], "sched-x", { onQuery: answer }), await raw.enrolled(others[1], "sched-y", { onQuery: answer })];
    const created = await others[0].api.post("/api/v1/schedules", { name: "cluster", query: "select 1 as n", interval: "1s", targets: { all: true }, timeoutMs: 2_000 });
    expect(created.status, created.text).toBe(201);
    const schedule = created.body as ScheduleView;
    for (const { agent } of agents) await agent.waitForQueries(3, 10_000);
    // Only the holder sends: every command so far came from its log.
    expect(holders(replicas).length).toBe(1);

    const killedAt = Date.now();
    expect((await cluster.kill(first.replica)).signal).toBe("SIGKILL");
    const next = await waitFor("another replica takes the schedules over", () => holders(others)[0], { timeoutMs: 10_000 });
    const takeoverMs = next.at - killedAt;
    console.log(`scheduler lease moved from ${first.replica.hubId} to ${next.replica.hubId} in ${takeoverMs} ms`);
    expect(takeoverMs).toBeLessThan(5_000);
    // The runs the dead holder left pending are run again by the new one.
    await next.replica.waitForLog("resumed runs a previous scheduler left open");
    const sentAtTakeover = agents.map((a) => a.agent.queries.length);
    await waitFor("runs continue after the takeover", () => agents.every((a, i) => a.agent.queries.length >= sentAtTakeover[i]! + 3), { timeoutMs: 10_000 });

    // The store: for each agent, one run per slot from the first to the last, every one ended ok (the runs
    // the dead holder left pending were run again by the new one).
    await sleep(2_500);
    await waitFor("no run left pending but the last ones", async () => {
      for (const { agentId } of agents) {
        const runs = await runsOf(next.replica, schedule.id, agentId);
        if (runs.slice(0, -3).some((r) => r.status === "pending")) return false;
      }
      return true;
    });
    for (const { agentId } of agents) {
      const runs = (await runsOf(next.replica, schedule.id, agentId)).slice(0, -3);
      const slots = runs.map((r) => r.slot);
      expect(new Set(slots).size, "a slot ran twice").toBe(slots.length);
      for (let i = 1; i < slots.length; i++) expect(slots[i]! - slots[i - 1]!, `slot missing after ${slots[i - 1]}`).toBe(1000);
      expect(runs.every((r) => r.status === "ok"), JSON.stringify(runs.filter((r) => r.status !== "ok"))).toBe(true);
      expect(runs.some((r) => r.createdAt < new Date(killedAt).toISOString())).toBe(true);
      expect(runs.some((r) => r.createdAt > new Date(next.at).toISOString())).toBe(true);
    }
  });
});
