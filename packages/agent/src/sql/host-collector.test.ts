import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { QueryResult } from "@uplink/protocol";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { QueryContext } from "../collectors/collector.js";
import { CollectorError } from "../errors.js";
import { runQuery } from "../subcommands/query.js";
import { WORKER_V8_FLAGS } from "../v8-flags.js";
import { localAgentInfo } from "./agent-info.js";
import { createHostCollector, defaultWorkerPath, type HostCollector, type HostCollectorOptions } from "./host-collector.js";

// The collector forks the *compiled* worker (dist/sql/query-worker.js): a child process cannot run the
// TypeScript source vitest is testing. So the suite builds first (`tsc -b`, incremental: a no-op when
// dist is fresh, as after `pnpm build`), and defaultWorkerPath() maps src/sql to dist/sql. Only this
// file needs the worker; the engine, tables and read-only rules are tested in-process elsewhere.
const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
const RUNAWAY = "with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c";

beforeAll(() => {
  const tsc = createRequire(join(ROOT, "package.json")).resolve("typescript/bin/tsc");
  try {
    execFileSync(process.execPath, [tsc, "-b", "packages/protocol", "packages/agent"], { cwd: ROOT, stdio: "pipe" });
  } catch (err) {
    // Type errors elsewhere in the package still emit (tsc -b emits unless noEmitOnError); only a
    // missing worker is fatal.
    if (!existsSync(defaultWorkerPath())) throw err;
  }
}, 120_000);

const open: HostCollector[] = [];
function collector(options: Partial<HostCollectorOptions> = {}): HostCollector {
  const c = createHostCollector({ agentInfo: localAgentInfo, ...options });
  open.push(c);
  return c;
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});

function ctx(overrides: Partial<QueryContext> = {}): QueryContext {
  return { signal: new AbortController().signal, timeoutMs: 10_000, maxRows: 10_000, maxBytes: 4 * 1024 * 1024, ...overrides };
}

async function rejection(p: Promise<QueryResult>): Promise<CollectorError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CollectorError);
  return err as CollectorError;
}

/** The pids of this process's query workers, as the processes table sees them. */
async function workerPids(c: HostCollector): Promise<number[]> {
  const r = await c.query(`select pid from processes where parent = ${process.pid} and cmdline like '%query-worker.js%'`, ctx());
  return r.rows.map((row) => row[0] as number);
}

/** The pids of this process's query workers, as `ps` lists them (no query needed, so none is waiting). */
function childWorkerPids(): number[] {
  const pids = execFileSync("ps", ["-o", "pid=,args=", "--ppid", String(process.pid)], { encoding: "utf8" });
  return pids
    .split("\n")
    .filter((l) => l.includes("query-worker.js"))
    .map((l) => Number.parseInt(l.trim(), 10));
}

/** Tests that find worker processes through the processes table, which only Linux has. */
const onLinux = it.runIf(process.platform === "linux");

const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("HostCollector", () => {
  it("is named host and lists every table with its columns", async () => {
    const c = collector();
    expect(c.name).toBe("host");
    const tables = await c.tables();
    expect(tables.map((t) => t.name)).toContain("processes");
    expect(tables.find((t) => t.name === "uptime")?.columns[0]).toMatchObject({ name: "days", type: "INTEGER" });
  });

  onLinux("answers queries in a worker process, not in the caller's", async () => {
    const c = collector();
    const r = await c.query("select hostname, (select pid from agent) from system_info", ctx());
    expect(r).toMatchObject({ columns: ["hostname", "(select pid from agent)"], rowCount: 1, truncated: false });
    expect(r.rows[0]?.[1]).toBe(process.pid);
    const [worker] = await workerPids(c);
    expect(worker).toBeGreaterThan(0);
    expect(worker).not.toBe(process.pid);
  });

  onLinux.each(["processes", "listening_ports", "mounts", "users", "agent"])(
    "answers select * from %s limit 1 through the worker",
    async (table) => {
      const r = await collector().query(`select * from ${table} limit 1`, ctx());
      expect(r.rowCount).toBe(1);
    },
  );

  it("passes the caps and the error codes through", async () => {
    const c = collector();
    const capped = await c.query("with recursive s(n) as (select 1 union all select n + 1 from s limit 50) select n from s", ctx({ maxRows: 5 }));
    expect(capped).toMatchObject({ rowCount: 5, truncated: true });
    expect((await rejection(c.query("insert into users (username) values ('x')", ctx()))).code).toBe("read_only");
    expect(await rejection(c.query("select * from nowhere", ctx()))).toMatchObject({ code: "query_failed", message: "no such table: nowhere" });
  });

  onLinux("kills a runaway query at its deadline while the main thread's timers keep firing on time", async () => {
    const c = collector({ poolSize: 1 });
    const [before] = await workerPids(c);
    let last = performance.now();
    let maxLateness = 0;
    let ticks = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      maxLateness = Math.max(maxLateness, now - last - 250);
      last = now;
      ticks += 1;
    }, 250);
    try {
      const started = performance.now();
      const err = await rejection(c.query(RUNAWAY, ctx({ timeoutMs: 1_600 })));
      expect(err.code).toBe("timeout");
      expect(performance.now() - started).toBeLessThan(2_500);
    } finally {
      clearInterval(timer);
    }
    expect(ticks).toBeGreaterThanOrEqual(5);
    expect(maxLateness).toBeLessThan(100);
    // The killed worker is gone and a fresh one answers the next query.
    await expect.poll(() => pidAlive(before as number)).toBe(false);
    const after = await workerPids(c);
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(before);
  });

  it("kills the worker when the signal aborts, and the next query still works", async () => {
    const c = collector({ poolSize: 1 });
    const abort = new AbortController();
    const pending = c.query(RUNAWAY, ctx({ signal: abort.signal, timeoutMs: 60_000 }));
    setTimeout(() => abort.abort(), 200);
    const started = performance.now();
    expect((await rejection(pending)).code).toBe("cancelled");
    expect(performance.now() - started).toBeLessThan(1_000);
    expect((await c.query("select 41 + 1", ctx())).rows).toEqual([[42]]);
  });

  it("counts an abort whose reason is a timeout as a timeout", async () => {
    const c = collector();
    const err = await rejection(c.query(RUNAWAY, ctx({ signal: AbortSignal.timeout(150), timeoutMs: 60_000 })));
    expect(err.code).toBe("timeout");
  });

  it("refuses an already aborted query without running it", async () => {
    const c = collector();
    const abort = new AbortController();
    abort.abort();
    expect((await rejection(c.query("select 1", ctx({ signal: abort.signal })))).code).toBe("cancelled");
  });

  it("queues queries beyond the pool size, and a deadline also covers the wait", async () => {
    const c = collector({ poolSize: 1 });
    const runaway = c.query(RUNAWAY, ctx({ timeoutMs: 1_000 }));
    const waiting = c.query("select 1", ctx({ timeoutMs: 300 }));
    expect((await rejection(waiting)).code).toBe("timeout");
    expect((await rejection(runaway)).code).toBe("timeout");
    const results = await Promise.all([1, 2, 3].map((n) => c.query(`select ${n}`, ctx())));
    expect(results.map((r) => r.rows[0]?.[0])).toEqual([1, 2, 3]);
  });

  onLinux("starts its workers with the agent's V8 settings, and a worker that collected its garbage while idle answers again", async () => {
    const c = collector();
    const cmdlines = async (): Promise<string[]> => {
      const r = await c.query(`select cmdline from processes where parent = ${process.pid} and cmdline like '%query-worker.js%'`, ctx());
      return r.rows.map((row) => String(row[0]));
    };
    const [first] = await cmdlines();
    for (const flag of [...WORKER_V8_FLAGS, "--max-old-space-size=128"]) expect(first).toContain(flag);
    const [pid] = await workerPids(c);
    // Past the worker's idle collection (IDLE_GC_MS, 1 s): the same process, its engine intact.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await workerPids(c)).toEqual([pid]);
    const r = await c.query("select count(*) from processes where pid = (select pid from agent)", ctx());
    expect(r.rows[0]?.[0]).toBe(1);
  });

  onLinux("starts workers with other V8 settings when asked (the host-sql bench's comparison)", async () => {
    const c = collector({ workerV8Flags: [] });
    const r = await c.query(`select cmdline from processes where parent = ${process.pid} and cmdline like '%query-worker.js%'`, ctx());
    expect(r.rows).toHaveLength(1);
    for (const flag of WORKER_V8_FLAGS) expect(String(r.rows[0]?.[0])).not.toContain(flag);
  });

  onLinux("lets an idle worker exit after idleTimeoutMs", async () => {
    const c = collector({ idleTimeoutMs: 100 });
    const [pid] = await workerPids(c);
    await expect.poll(() => pidAlive(pid as number), { timeout: 3_000 }).toBe(false);
  });

  it("reports a worker that dies as internal, with its stderr", async () => {
    const dir = mkdtempSync(join(tmpdir(), "uplink-worker-"));
    try {
      const crashing = join(dir, "crash.mjs");
      // Dies while answering (after the request arrived), so the failure is the exit, not a failed send.
      writeFileSync(crashing, "process.once('message', () => { process.stderr.write('boom\\n'); process.exit(3); });\n");
      const err = await rejection(collector({ workerPath: crashing }).query("select 1", ctx()));
      expect(err).toMatchObject({ code: "internal", message: "query worker exited with code 3: boom" });
      const missing = await rejection(collector({ workerPath: join(dir, "nope.js") }).query("select 1", ctx()));
      expect(missing.code).toBe("internal");
      expect(missing.message).toMatch(/not found/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  onLinux.each([
    ["two large random blobs", "select length(randomblob(250000000)) + length(randomblob(250000000))"],
    [
      "a materialised zeroblob CTE",
      "with recursive x(n, b) as (select 1, zeroblob(50000000) union all select n + 1, zeroblob(50000000) from x where n < 40) " +
        "select count(*), sum(length(b)) from (select * from x order by n desc)",
    ],
  ])("refuses %s with resource_limit, replaces the worker and keeps answering", async (_, sql) => {
    const c = collector({ poolSize: 2, workerMemoryMb: 128 });
    const [before] = await workerPids(c);
    const err = await rejection(c.query(sql, ctx({ timeoutMs: 60_000 })));
    expect(err.code).toBe("resource_limit");
    expect(err.message).toMatch(/memory limit of 128 MiB/);
    // The killed worker is gone; the next query gets a healthy one.
    expect((await c.query("select 41 + 1", ctx())).rows).toEqual([[42]]);
    expect(before).toEqual(expect.any(Number));
    await expect.poll(() => pidAlive(before as number), { timeout: 3_000 }).toBe(false);
  });

  it("refuses a blob past SQLite's largest with resource_limit", async () => {
    const err = await rejection(collector().query("select length(zeroblob(2000000000))", ctx()));
    expect(err).toMatchObject({ code: "resource_limit", message: expect.stringMatching(/too big/) });
  });

  onLinux("grows and shrinks its pool with resize", async () => {
    const c = collector({ poolSize: 1 });
    c.resize(3);
    const runaways = [1, 2, 3].map(() => rejection(c.query(RUNAWAY, ctx({ timeoutMs: 30_000 }))));
    // Three workers run at once: none waits behind another.
    await expect.poll(() => childWorkerPids().length, { timeout: 10_000 }).toBe(3);
    await c.close();
    for (const r of runaways) expect((await r).code).toBe("cancelled");

    // Shrinking retires idle workers past the new size at once; the one left keeps answering.
    const d = collector({ poolSize: 3, idleTimeoutMs: Number.POSITIVE_INFINITY });
    await Promise.all([1, 2, 3].map((n) => d.query(`select ${n}`, ctx())));
    expect(childWorkerPids()).toHaveLength(3);
    d.resize(1);
    await expect.poll(() => childWorkerPids().length, { timeout: 5_000 }).toBe(1);
    const [first, second] = await Promise.all([d.query("select 'a'", ctx()), d.query("select 'b'", ctx())]);
    expect([first.rows, second.rows]).toEqual([[["a"]], [["b"]]]);
    expect(childWorkerPids()).toHaveLength(1);
  });

  it("leaves no active handles after close, even after killing a runaway", async () => {
    const baseline = process.getActiveResourcesInfo();
    const c = createHostCollector({ agentInfo: localAgentInfo, poolSize: 2 });
    await c.query("select 1", ctx());
    const killed = c.query(RUNAWAY, ctx({ timeoutMs: 200 }));
    const busy = rejection(c.query(RUNAWAY, ctx({ timeoutMs: 30_000 })));
    expect((await rejection(killed)).code).toBe("timeout");
    await c.close();
    await c.close(); // idempotent
    expect(await busy).toMatchObject({ code: "cancelled", message: "the host collector closed before the query finished" });
    // Vitest's own timers come and go, so compare counts per kind: none may exceed the baseline, and no
    // child process handle (only the collector spawns any here) may remain.
    const after = process.getActiveResourcesInfo();
    expect(after).not.toContain("ProcessWrap");
    for (const kind of new Set(after)) {
      expect(after.filter((k) => k === kind).length, kind).toBeLessThanOrEqual(baseline.filter((k) => k === kind).length);
    }
    expect((await rejection(c.query("select 1", ctx()))).code).toBe("internal");
  });
});

describe("uplink-agent query", () => {
  it("runs a query locally and prints an aligned table or the QueryResult JSON", async () => {
    const text = await runQuery("select 'a' as name, 1 as n union all select 'bcd', 22");
    expect(text).toBe(["name   n", "----  --", "a      1", "bcd   22", "(2 rows)"].join("\n"));
    const json = JSON.parse(await runQuery("select connection_state from agent", { json: true })) as QueryResult;
    expect(json).toEqual({ columns: ["connection_state"], rows: [["local"]], rowCount: 1, truncated: false });
  });

  it("throws the collector's typed error", async () => {
    await expect(runQuery("drop table users")).rejects.toMatchObject({ code: "read_only" });
    await expect(runQuery(RUNAWAY, { timeoutMs: 300 })).rejects.toMatchObject({ code: "timeout" });
  });
});
