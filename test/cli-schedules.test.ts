import { describe, expect, it } from "vitest";
import type { PolicyDetail, ScheduleResults, ScheduleView } from "../packages/protocol/dist/index.js";
import { useSharedHub } from "./fixtures/hub-process.js";
import { uplink } from "./fixtures/process.js";
import { useRawAgents, type HubCommand, type RawAgent } from "./fixtures/raw-agent.js";
import { waitFor } from "./fixtures/wait.js";

const answer = (names: string[]) => (command: HubCommand, agent: RawAgent) =>
  agent.respond(command, { ok: true, result: { columns: ["name"], rows: names.map((n) => [n]), rowCount: names.length, truncated: false } });

describe("`uplink schedules` and `uplink policies`", () => {
  const shared = useSharedHub();
  const raw = useRawAgents();
  const cli = (args: string[]) => uplink(["--hub", shared().url, "--token", shared().adminToken, ...args]);

  it("creates, lists, shows, updates, reads the results of and deletes a schedule, as tables and --json", async () => {
    const hub = shared();
    const { agentId } = await raw.enrolled(hub, "cli-sched", { onQuery: answer(["sshd"]) });
    const created = await cli(["--json", "schedules", "create", "--name", "cli procs", "--query", "select name from processes", "--interval", "1s", "--agent", agentId, "--mode", "differential", "--timeout", "2000"]);
    expect(created.code, created.stderr).toBe(0);
    const schedule = JSON.parse(created.stdout) as ScheduleView;
    expect(schedule).toMatchObject({ name: "cli procs", intervalMs: 1000, mode: "differential", timeoutMs: 2000, targets: { agentIds: [agentId] } });

    const list = await cli(["schedules"]);
    expect(list.code).toBe(0);
    expect(list.stdout.split("\n")[0]).toMatch(/^ID\s+NAME\s+MODE\s+INTERVAL\s+ENABLED\s+TARGETS\s+QUERY$/);
    expect(list.stdout).toContain(schedule.id);
    expect(list.stdout).toMatch(/differential\s+1s\s+yes/);
    const show = await cli(["schedules", "show", schedule.id]);
    expect(show.stdout).toMatch(/^id\s+sch_/);
    expect(show.stdout).toMatch(/mode\s+differential/);

    await waitFor("a run stored", async () => ((await hub.api.get(`/api/v1/schedules/${schedule.id}/results`)).body as ScheduleResults).results.some((r) => r.status === "ok"));
    const results = await cli(["schedules", "results", schedule.id, "--agent", agentId, "--limit", "5"]);
    expect(results.code).toBe(0);
    expect(results.stdout.split("\n")[0]).toMatch(/^SEQ\s+TIME\s+AGENT\s+STATUS\s+SNAPSHOT\s+ADDED\s+REMOVED\s+ROWS$/);
    expect(results.stdout).toMatch(/ok\s+yes\s+1 sshd/);
    const resultsJson = JSON.parse((await cli(["--json", "schedules", "results", schedule.id])).stdout) as ScheduleResults;
    expect(resultsJson.results.length).toBeGreaterThan(0);

    const updated = await cli(["--json", "schedules", "update", schedule.id, "--interval", "5m", "--disable"]);
    expect(JSON.parse(updated.stdout)).toMatchObject({ intervalMs: 300_000, enabled: false });
    const bad = await cli(["schedules", "update", schedule.id, "--interval", "10ms"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("at least 1s");
    const missing = await cli(["schedules", "create", "--name", "x", "--query", "select 1", "--interval", "1m"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("--agent, --label or --all");

    expect((await cli(["schedules", "delete", schedule.id])).stdout.trim()).toBe(`deleted ${schedule.id}`);
    const gone = await cli(["schedules", "show", schedule.id]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("not_found");
  });

  it("creates a policy and shows its hosts per state with the failing ones", async () => {
    const hub = shared();
    const { agentId } = await raw.enrolled(hub, "cli-pol", { onQuery: answer([]) });
    const created = await cli(["--json", "policies", "create", "--name", "cli sshd", "--query", "select 1", "--interval", "1s", "--label", "nope=none", "--agent", agentId]);
    expect(created.code, created.stderr).toBe(0);
    const { id } = JSON.parse(created.stdout) as { id: string };
    await waitFor("the host fails", async () => ((await hub.api.get(`/api/v1/policies/${id}`)).body as PolicyDetail).counts.fail === 1);
    const list = await cli(["policies"]);
    expect(list.stdout.split("\n")[0]).toMatch(/^ID\s+NAME\s+INTERVAL\s+ENABLED\s+PASS\s+FAIL\s+UNKNOWN\s+QUERY$/);
    const show = await cli(["policies", "show", id]);
    expect(show.stdout).toMatch(/hosts\s+0 pass · 1 fail · 0 unknown/);
    expect(show.stdout).toMatch(new RegExp(`${agentId}\\s+\\S+\\s+the query returned no rows`));
    expect(JSON.parse((await cli(["--json", "policies", "show", id])).stdout).failing[0].agentId).toBe(agentId);
    expect((await cli(["policies", "delete", id])).code).toBe(0);
  });
});
