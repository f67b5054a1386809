import { createRequire } from "node:module";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Api, type AuditRow } from "./fixtures/http.js";
import { useHubs } from "./fixtures/hub-process.js";
import { REPO_ROOT } from "./fixtures/process.js";
import { useRawAgents } from "./fixtures/raw-agent.js";
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

describe("Crash safety", () => {
  const hubs = useHubs();
  const rawAgents = useRawAgents();

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
});
