import { createRequire } from "node:module";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Api, type AuditRow } from "./fixtures/http.js";
import { useHubs } from "./fixtures/hub-process.js";
import { REPO_ROOT, uplink } from "./fixtures/process.js";
import { useRawAgents } from "./fixtures/raw-agent.js";
import { useSseClients } from "./fixtures/sse.js";
import { waitFor } from "./fixtures/wait.js";

/** better-sqlite3 as the hub package has it (the test workspace does not depend on it itself). */
const Database = createRequire(join(REPO_ROOT, "packages/hub/package.json"))("better-sqlite3") as new (path: string, opts: { readonly: boolean; fileMustExist: boolean }) => {
  pragma(sql: string, opts?: { simple: boolean }): unknown;
  prepare(sql: string): { get(...args: unknown[]): unknown };
  close(): void;
};

/** Every audit row of a hub, paging `GET /api/v1/queries` by `before`. */
async function wholeAudit(api: Api): Promise<Map<string, AuditRow>> {
  const rows = new Map<string, AuditRow>();
  for (let before: number | null = null; ; ) {
    const page = await api.history({ limit: 500, ...(before === null ? {} : { before }) });
    for (const row of page.queries) rows.set(row.correlationId, row);
    if (page.nextBefore === null) return rows;
    before = page.nextBefore;
  }
}

/** Resolves once the CLI has its fan-out's result stream open (it got its 202 and is waiting for results). */
async function cliStreaming(hub: { api: Api }): Promise<void> {
  await waitFor("the CLI's result stream open", async () => (await hub.api.metric("uplink_sse_clients", { stream: "fanout" })) === 1);
}

describe("Crash safety", () => {
  const hubs = useHubs();
  const rawAgents = useRawAgents();
  const sse = useSseClients();

  it("loses nothing a caller was told succeeded when the hub is killed with SIGKILL under query load, and the SQLite file stays intact", async () => {
    const hub = await hubs.start({ logLevel: "info", healthInterval: "200ms", queryTimeout: "10s" });
    const agentIds: string[] = [];
    for (let i = 0; i < 4; i++) agentIds.push((await rawAgents.enrolled(hub, `crash-${i}`, { onQuery: (c, a) => a.respond(c) })).agentId);

    const api = new Api(hub.url, hub.adminToken);
    const ok: string[] = [];
    const otherStatuses: number[] = [];
    let killed = false;
    const caller = async (n: number) => {
      for (let i = 0; !killed; i++) {
        try {
          const res = await api.query(agentIds[(n + i) % agentIds.length]!, { query: `select ${n}, ${i}` });
          if (res.status === 200) ok.push(res.correlationId!);
          else otherStatuses.push(res.status);
        } catch {
          return; // the hub is gone mid-request: the caller was told nothing
        }
      }
    };
    const callers = Array.from({ length: 16 }, (_, n) => caller(n));
    await waitFor("load running", () => ok.length >= 1_000, { timeoutMs: 30_000 });

    hub.child.kill("SIGKILL");
    const exit = await hub.exited;
    killed = true;
    await Promise.all(callers);
    await hubs.stop(hub); // already dead: only tells the fixture that the test ended it
    expect(exit.signal).toBe("SIGKILL");

    const again = await hubs.start({ dataDir: hub.dataDir, logLevel: "info" });
    const audit = await wholeAudit(again.api);
    const missing = ok.filter((id) => audit.get(id)?.status !== "ok");
    console.log(`crash: ${ok.length} queries answered 200 before SIGKILL (others: ${otherStatuses.length}); ${audit.size} audit rows after restart; missing or not ok: ${missing.length}`);
    expect(missing).toEqual([]);
    expect(otherStatuses).toEqual([]);

    expect((await hubs.stop(again)).code).toBe(0);
    const db = new Database(join(hub.dataDir, "uplink.db"), { readonly: true, fileMustExist: true });
    try {
      expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
      expect((db.prepare("SELECT count(*) AS n FROM query_audit WHERE status = 'ok'").get() as { n: number }).n).toBeGreaterThanOrEqual(ok.length);
    } finally {
      db.close();
    }
  });

  it("closes out what a SIGKILLed hub left open as hub_restarted: single queries in the audit, the fan-out done with its stream ending, and `uplink query --all` ends with a clear line", async () => {
    const hub = await hubs.start({ logLevel: "info", queryTimeout: "60s" });
    // `silent` never answers a query; `answers` does, so the fan-out has a result landed before the kill.
    const silent = await rawAgents.enrolled(hub, "crash-silent");
    const answers = await rawAgents.enrolled(hub, "crash-answers", { onQuery: (c, a) => a.respond(c) });

    const singles = [1, 2].map((i) => hub.api.query(silent.agentId, { query: `select ${i} -- single`, timeoutMs: 60_000 }).catch(() => undefined));
    const cli = uplink(["--hub", hub.url, "--token", hub.adminToken, "query", "--all", "--timeout", "60000", "select 'fan' -- fan-out"], { timeoutMs: 90_000 });
    const fanoutCommand = await silent.agent.waitForQuery("select 'fan' -- fan-out");
    const fanoutId = fanoutCommand.sessionId!;
    await silent.agent.waitForQueries(3);
    await cliStreaming(hub);
    await waitFor("the answered target stored", async () => (await hub.api.get(`/api/v1/queries/${fanoutId}`)).body.counts?.ok === 1);
    const open = (await hub.api.history({ limit: 50 })).queries.filter((q) => q.status === "pending");
    expect(open.map((q) => q.agentId).sort()).toEqual([silent.agentId, silent.agentId, silent.agentId].sort());

    hub.child.kill("SIGKILL");
    expect((await hub.exited).signal).toBe("SIGKILL");
    await hubs.stop(hub); // already dead: only tells the fixture that the test ended it
    await Promise.all(singles);

    const again = await hubs.start({ dataDir: hub.dataDir, port: hub.port, logLevel: "info" });
    // Every row that was open now reads as closed out, with the code that says why.
    for (const q of open) {
      const row = await again.api.auditRow(q.correlationId);
      expect(row).toMatchObject({ status: "error", error: { code: "hub_restarted" } });
      expect(row!.finishedAt).not.toBeNull();
    }
    const fanout = await again.api.get(`/api/v1/queries/${fanoutId}`);
    expect(fanout.body).toMatchObject({ status: "done", counts: { pending: 0, ok: 1, error: 1 } });
    expect(fanout.body.finishedAt).not.toBeNull();
    const closed = fanout.body.targets.find((t: { agentId: string }) => t.agentId === silent.agentId);
    expect(closed).toMatchObject({ status: "error", error: { code: "hub_restarted" }, resultSeq: 2 });

    // The result stream replays both targets, then `done`; a follower of hub events sees the fan-out end.
    const stream = await sse.open(again.url, `/api/v1/queries/${fanoutId}/stream`, { token: again.adminToken });
    await stream.waitForEnd();
    expect(stream.events.map((e) => e.event)).toEqual(["result", "result", "done"]);
    expect(stream.events[2]!.json).toMatchObject({ ok: 1, error: 1, pending: 0 });
    const events = await sse.open(again.url, "/api/v1/events?after=0", { token: again.adminToken });
    const done = await events.waitForEvent("query.done of the fan-out", (e) => e.event === "query.done" && e.json?.fanoutId === fanoutId);
    expect(done.json).toMatchObject({ targetCount: 2, code: "hub_restarted", counts: { ok: 1, error: 1 } });
    expect(again.logsMatching("closed out open work left by a hub that is gone")[0]).toMatchObject({ code: "hub_restarted", commands: 2, fanouts: [fanoutId] });
    expect(await again.api.metric("uplink_work_closed_out_total", { kind: "command", code: "hub_restarted" })).toBe(2);
    expect(await again.api.metric("uplink_work_closed_out_total", { kind: "fanout", code: "hub_restarted" })).toBe(1);

    // The CLI resumed its stream on the restarted hub, got `done`, and ended with the reason on the target's line.
    const run = await cli;
    expect(run.code, run.stderr).toBe(4);
    expect(run.stderr).toContain(`the result stream of ${fanoutId} broke; resuming`);
    expect(run.stdout).toContain(`2 targets: 1 ok · 1 error · 0 timeout · 0 offline · ${fanoutId}`);
    expect(run.stdout).toMatch(new RegExp(`${silent.agentId}\\s+error\\s+hub_restarted: the hub restarted`));
    expect(answers.agent.queries.length).toBe(1);
  });

  it("`uplink query --all` stops with a clear line (exit 1) when the hub comes back without its fan-out", async () => {
    const hub = await hubs.start({ logLevel: "info", queryTimeout: "60s" });
    const silent = await rawAgents.enrolled(hub, "gone-silent");
    const cli = uplink(["--hub", hub.url, "--token", hub.adminToken, "query", "--all", "--timeout", "60000", "select 'gone'"], { timeoutMs: 90_000 });
    const fanoutId = (await silent.agent.waitForQuery("select 'gone'")).sessionId!;
    await cliStreaming(hub);
    hub.child.kill("SIGKILL");
    await hub.exited;
    await hubs.stop(hub);
    // The store the hub comes back with no longer has the fan-out (say, restored from an older backup).
    const db = new (Database as unknown as new (path: string) => { prepare(sql: string): { run(...args: unknown[]): unknown }; close(): void })(join(hub.dataDir, "uplink.db"));
    try {
      db.prepare("DELETE FROM query_audit WHERE fanout_id = ?").run(fanoutId);
      db.prepare("DELETE FROM fanouts WHERE id = ?").run(fanoutId);
    } finally {
      db.close();
    }
    await hubs.start({ dataDir: hub.dataDir, port: hub.port, logLevel: "info" });
    const run = await cli;
    expect(run.code, run.stderr).toBe(1);
    expect(run.stderr).toContain(`404 not_found: fan-out ${fanoutId} is no longer known to the hub; 0 of 1 results were received`);
  });

  it("`uplink query --all` stops with a clear line (exit 3) after its bounded retries when the hub never comes back", async () => {
    const hub = await hubs.start({ logLevel: "info", queryTimeout: "60s" });
    const silent = await rawAgents.enrolled(hub, "lost-silent");
    const cli = uplink(["--hub", hub.url, "--token", hub.adminToken, "query", "--all", "--timeout", "60000", "select 'lost'"], { timeoutMs: 90_000 });
    const fanoutId = (await silent.agent.waitForQuery("select 'lost'")).sessionId!;
    await cliStreaming(hub);
    hub.child.kill("SIGKILL");
    await hub.exited;
    await hubs.stop(hub);
    const run = await cli;
    expect(run.code, run.stderr).toBe(3);
    // 8 resumptions, 0.5 s to 4 s apart (23.5 s in all), then the line that says what was lost.
    expect(run.stderr.match(/broke; resuming in/g)).toHaveLength(8);
    expect(run.stderr).toContain(`uplink: unreachable: lost the hub while collecting ${fanoutId} (0 of 1 results received)`);
  }, 90_000);
});
