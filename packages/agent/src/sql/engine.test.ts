import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CollectorError } from "../errors.js";
import { localAgentInfo } from "./agent-info.js";
import { createEngine, toCell, type Engine, type RunOptions } from "./engine.js";
import { defineTable } from "./table-def.js";
import { HOST_TABLES } from "./tables/index.js";

// The engine runs in-process here: these tests exercise SQL, tables and the read-only rules against the
// real host without a worker. The worker, deadlines and cancellation are covered in host-collector.test.ts.

const OPTS: RunOptions = { maxRows: 10_000, maxBytes: 4 * 1024 * 1024, agent: { ...localAgentInfo(), pid: process.pid } };

function failure(engine: Engine, sql: string, opts: RunOptions = OPTS): CollectorError {
  try {
    engine.run(sql, opts);
  } catch (err) {
    expect(err).toBeInstanceOf(CollectorError);
    return err as CollectorError;
  }
  throw new Error(`expected ${JSON.stringify(sql)} to fail`);
}

describe("Engine", () => {
  let engine: Engine;
  beforeAll(() => {
    engine = createEngine(HOST_TABLES, "linux");
  });
  afterAll(() => engine.close());

  describe.runIf(process.platform === "linux")("real host tables", () => {
    let server: Server | undefined;
    afterEach(async () => {
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      server = undefined;
    });

    // Tables that need a constraint are given one; secret tables are enabled for this check.
    const bound = (def: (typeof HOST_TABLES)[number]): string => (def.constraints === undefined ? "" : " where path = '/etc/passwd'");
    it.each(HOST_TABLES.map((t) => t.name))("answers select * from %s limit 1 with values of the declared types", (name) => {
      const def = HOST_TABLES.find((t) => t.name === name);
      const result = engine.run(`select * from ${name}${def === undefined ? "" : bound(def)} limit 1`, { ...OPTS, secretTablesEnabled: true });
      expect(result.columns).toEqual(def?.columns.map((c) => c.name));
      expect(result.rows.length).toBeLessThanOrEqual(1);
      for (const row of result.rows) {
        row.forEach((cell, i) => {
          if (cell === null) return;
          const type = def?.columns[i]?.type;
          if (type === "TEXT") expect(typeof cell, `${name}.${result.columns[i]}`).toBe("string");
          if (type === "REAL") expect(typeof cell, `${name}.${result.columns[i]}`).toBe("number");
          if (type === "INTEGER") expect(Number.isInteger(cell), `${name}.${result.columns[i]}`).toBe(true);
        });
      }
    });

    it("lists the test process itself in processes", () => {
      const { rows } = engine.run(`select pid, parent, state, cmdline, resident_size > 0, start_time <= unixepoch(), cwd = '${process.cwd()}', uid = ${process.getuid?.() ?? -1}, on_disk from processes where pid = ${process.pid}`, OPTS);
      expect(rows).toHaveLength(1);
      expect(rows[0]?.[0]).toBe(process.pid);
      expect(rows[0]?.[1]).toBe(process.ppid);
      expect(rows[0]?.[3]).toContain(process.argv[1] ?? "node");
      expect(rows[0]?.slice(4)).toEqual([1, 1, 1, 1, 1]);
    });

    it("shows a port the test opens in listening_ports, with its pid", async () => {
      const srv = createServer();
      server = srv;
      await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
      const port = (srv.address() as { port: number }).port;
      const { rows } = engine.run(`select protocol, family, address, pid from listening_ports where port = ${port}`, OPTS);
      expect(rows).toEqual([[6, 2, "127.0.0.1", process.pid]]);
    });

    it("reports os.hostname() as system_info.hostname", () => {
      expect(engine.run("select hostname from system_info", OPTS).rows).toEqual([[hostname()]]);
    });

    it("never exposes a password field in users", () => {
      const { columns, rows } = engine.run("select * from users where uid = 0", OPTS);
      expect(columns).not.toContain("password");
      expect(rows[0]?.[4]).toBe("root");
    });

    it("shows the snapshot it was given in agent", () => {
      const agent = { ...OPTS.agent, hub: "https://hub.example", connectionState: "connected", inflight: 3 };
      const { rows } = engine.run("select hub, connection_state, inflight, pid from agent", { ...OPTS, agent });
      expect(rows).toEqual([["https://hub.example", "connected", 3, process.pid]]);
    });

    it("evaluates joins and aggregates over one snapshot per query", () => {
      const { rows } = engine.run(
        "select count(*) = (select count(*) from processes), count(distinct p.pid) = count(*) from processes p join processes q on q.pid = p.pid",
        OPTS,
      );
      expect(rows).toEqual([[1, 1]]);
    });

    it("sizes the mounted root file system", () => {
      const { rows } = engine.run("select blocks > 0, blocks_free <= blocks, blocks_available <= blocks_free from mounts where path = '/' limit 1", OPTS);
      expect(rows).toEqual([[1, 1, 1]]);
    });
  });

  describe.runIf(process.platform === "linux")("osquery's dialect and constrained tables", () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), "uplink-sql-file-"));
      mkdirSync(join(dir, "sub"));
      writeFileSync(join(dir, "a.txt"), "alpha");
      writeFileSync(join(dir, "sub", "b.txt"), "beta");
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex");

    it("answers file and hash on = and IN of path, with path and directory as ordinary columns", () => {
      const r = engine.run(`select * from file where path = '${dir}/a.txt'`, OPTS);
      expect(r.columns.slice(0, 3)).toEqual(["path", "directory", "filename"]);
      expect(r.rows[0]?.slice(0, 3)).toEqual([`${dir}/a.txt`, dir, "a.txt"]);
      const h = engine.run(`select path, sha256 from hash where path in ('${dir}/a.txt', '${dir}/sub/b.txt') order by path`, OPTS);
      expect(h.rows).toEqual([[`${dir}/a.txt`, sha256("alpha")], [`${dir}/sub/b.txt`, sha256("beta")]]);
    });

    it("lists a directory, expands % one level and %% any depth, and binds hash through IN (select …)", () => {
      expect(engine.run(`select filename from file where directory = '${dir}' order by 1`, OPTS).rows).toEqual([["a.txt"], ["sub"]]);
      expect(engine.run(`select path from file where path like '${dir}/%.txt'`, OPTS).rows).toEqual([[`${dir}/a.txt`]]);
      expect(engine.run(`select count(*) from file where path like '${dir}/%%'`, OPTS).rows).toEqual([[3]]);
      const h = engine.run(`select sha256 from hash where path in (select path from file where path like '${dir}/sub/%')`, OPTS);
      expect(h.rows).toEqual([[sha256("beta")]]);
    });

    it("names the column to constrain when file or hash has none", () => {
      expect(failure(engine, "select * from file").message).toBe("file requires a constraint on path or directory (=, IN or LIKE)");
      expect(failure(engine, "select md5 from hash").message).toContain("hash requires a constraint on path or directory");
    });

    it("reads a double-quoted token that names no column as a string, and keeps quoted columns columns", () => {
      expect(engine.run('select "0.0.0.0" as a, "x" = \'x\'', OPTS).rows).toEqual([["0.0.0.0", 1]]);
      expect(engine.run('select "uid" from users where "username" = "root"', OPTS).rows).toEqual([[0]]);
    });

    it("has osquery's functions", () => {
      const { rows } = engine.run(
        "select split('a, b,,c', ',', 2), regex_split('a1b22c', '[0-9]+', 1), regex_match('v1.2.3', '([0-9]+)\\.([0-9]+)', 2), inet_aton('10.0.0.1'), concat_ws('-', 'a', null, 'b'), to_base64('hi'), from_base64('aGk='), conditional_to_base64('ok'), round(log(exp(2)), 6), sqrt(16)",
        OPTS,
      );
      expect(rows).toEqual([["c", "b", "2", 167772161, "a-b", "aGk=", "hi", "ok", 2, 4]]);
    });

    it("refuses a secret table unless enabled, naming the setting", () => {
      expect(failure(engine, "select * from process_envs").message).toContain("--enable-secret-tables / UPLINK_ENABLE_SECRET_TABLES");
      const mine = engine.run(`select count(*) > 0 from process_envs where pid = ${process.pid}`, { ...OPTS, secretTablesEnabled: true });
      expect(mine.rows).toEqual([[1]]);
    });

    it("reads host files under the host root", () => {
      mkdirSync(join(dir, "etc"), { recursive: true });
      writeFileSync(join(dir, "etc", "passwd"), "alice:x:4242:4242:Alice:/home/alice:/bin/sh\n");
      expect(engine.run("select username, uid from users", { ...OPTS, hostRoot: dir }).rows).toEqual([["alice", 4242]]);
    });
  });

  describe("read-only enforcement", () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), "uplink-sql-ro-"));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it.each([
      ["INSERT", "insert into processes (pid) values (1)"],
      ["UPDATE", "update processes set name = 'x'"],
      ["DELETE", "delete from users"],
      ["REPLACE", "replace into users (name) values ('x')"],
      ["CREATE TABLE", "create table t (a)"],
      ["CREATE TEMP TABLE", "create temp table t (a)"],
      ["CREATE VIEW", "create view v as select 1"],
      ["CREATE INDEX", "create index i on users (name)"],
      ["CREATE TRIGGER", "create temp trigger tr after insert on t begin select 1; end"],
      ["CREATE VIRTUAL TABLE", "create virtual table f using fts5(a)"],
      ["DROP TABLE", "drop table processes"],
      ["DROP VIEW", "drop view if exists v"],
      ["ALTER", "alter table users rename to u"],
      ["WITH … INSERT", "with x as (select 1) insert into users (name) select * from x"],
      ["WITH … DELETE", "with x(a) as (select 1) delete from users"],
      ["PRAGMA journal_mode=wal", "pragma journal_mode=wal"],
      ["PRAGMA writable_schema=1", "pragma writable_schema=1"],
      ["PRAGMA with a call", "pragma cache_size(1)"],
      ["PRAGMA read of a setting", "pragma journal_mode"],
      ["pragma table-valued function with side effects", "select * from pragma_optimize"],
      ["quoted pragma function", 'select * from "pragma_wal_checkpoint"'],
      ["EXPLAIN of a write", "explain insert into users (name) values ('x')"],
      ["EXPLAIN of a pragma write", "explain pragma writable_schema=1"],
      ["BEGIN", "begin"],
      ["SAVEPOINT", "savepoint s"],
      ["ANALYZE", "analyze"],
      ["REINDEX", "reindex"],
      ["load_extension", "select load_extension('x')"],
      ["load_extension with entry point", "select load_extension('/tmp/x.so', 'init')"],
      ["load_extension hidden in a comment-split statement", "select /* c */ load_extension ( 'x' )"],
    ])("refuses %s with read_only", (_, sql) => {
      const err = failure(engine, sql);
      expect(err.code).toBe("read_only");
      expect(err.message.length).toBeGreaterThan(10);
    });

    it.each([
      ["ATTACH", (d: string) => `attach database '${join(d, "attached.db")}' as a`],
      ["ATTACH via a URI", (d: string) => `attach 'file:${join(d, "uri.db")}?mode=rwc' as b`],
      ["DETACH", () => "detach database main"],
      ["VACUUM INTO", (d: string) => `vacuum into '${join(d, "copy.db")}'`],
      ["VACUUM", () => "vacuum"],
    ])("refuses %s with read_only and creates no file", (_, sql) => {
      expect(failure(engine, sql(dir)).code).toBe("read_only");
      expect(readdirSync(dir)).toEqual([]);
    });

    it("allows queries, VALUES, EXPLAIN and introspection pragmas", () => {
      expect(engine.run("values (1, 'a')", OPTS).rows).toEqual([[1, "a"]]);
      expect(engine.run("with x(a) as (select 2) select a from x", OPTS).rows).toEqual([[2]]);
      expect(engine.run("explain query plan select * from processes", OPTS).rowCount).toBeGreaterThan(0);
      expect(engine.run("pragma table_info(processes)", OPTS).rows.map((r) => r[1])).toContain("cmdline");
      expect(engine.run("select 'insert into x; drop table y' as s;", OPTS).rows).toEqual([["insert into x; drop table y"]]);
    });
  });

  describe("errors", () => {
    it("reports SQL errors as query_failed with SQLite's message", () => {
      expect(failure(engine, "select * from no_such_table")).toMatchObject({ code: "query_failed", message: "no such table: no_such_table" });
      expect(failure(engine, "selec 1")).toMatchObject({ code: "query_failed", message: 'near "selec": syntax error' });
      expect(failure(engine, "select nope from uptime")).toMatchObject({ code: "query_failed", message: "no such column: nope" });
    });

    it("refuses a second statement and an empty query", () => {
      expect(failure(engine, "select 1; select 2").code).toBe("query_failed");
      expect(failure(engine, "select 1; pragma writable_schema=1").code).toBe("query_failed");
      expect(failure(engine, "  -- nothing\n ;").code).toBe("empty_query");
    });

    it("says which tables a platform cannot provide instead of returning wrong data", () => {
      const mac = createEngine(HOST_TABLES, "darwin");
      try {
        expect(failure(mac, "select * from processes")).toMatchObject({
          code: "query_failed",
          message: "table processes is not available on darwin (only on linux): it reads /proc",
        });
        expect(failure(mac, "select count(*) from listening_ports").message).toMatch(/not available on darwin/);
        expect(mac.run("select count(*) from uptime", OPTS).rows).toEqual([[1]]);
      } finally {
        mac.close();
      }
    });
  });

  describe("caps", () => {
    const series = "with recursive s(n) as (select 1 union all select n + 1 from s limit 100) select n, 'xxxxxxxxxx' as pad from s";

    it("cuts at maxRows and says truncated", () => {
      const r = engine.run(series, { ...OPTS, maxRows: 10 });
      expect(r).toMatchObject({ rowCount: 10, truncated: true });
      expect(r.rows[9]).toEqual([10, "xxxxxxxxxx"]);
    });

    it("is not truncated when the rows fit exactly", () => {
      expect(engine.run(series, { ...OPTS, maxRows: 100 })).toMatchObject({ rowCount: 100, truncated: false });
    });

    it("cuts at maxBytes of the rows' JSON and says truncated", () => {
      const r = engine.run(series, { ...OPTS, maxBytes: 500 });
      expect(r.truncated).toBe(true);
      expect(Buffer.byteLength(JSON.stringify(r.rows))).toBeLessThanOrEqual(500);
      const next = engine.run(series, { ...OPTS, maxRows: r.rowCount + 1 });
      expect(Buffer.byteLength(JSON.stringify(next.rows))).toBeGreaterThan(500);
    });
  });

  describe("values", () => {
    it("keeps integers exact: safe ones as numbers, larger ones as strings", () => {
      const { rows } = engine.run("select 9007199254740991, 9007199254740993, -9223372036854775808, 1.5, x'00ff', 1e999, null", OPTS);
      expect(rows).toEqual([[9007199254740991, "9007199254740993", "-9223372036854775808", 1.5, "00ff", "Infinity", null]]);
    });

    it("converts cells for JSON", () => {
      expect([toCell(2n ** 60n), toCell(-Infinity), toCell(Buffer.from([1, 2])), toCell("a")]).toEqual(["1152921504606846976", "-Infinity", "0102", "a"]);
    });
  });

  describe("indexed columns", () => {
    // A table whose `id` a query may bind, as docker_container_processes: it records what each scan got.
    const scans: (string | undefined)[] = [];
    const items = defineTable({
      name: "items",
      description: "test table",
      indexed: ["id"],
      columns: [
        { name: "id", type: "TEXT" },
        { name: "n", type: "INTEGER" },
      ],
      *rows(_ctx, scan) {
        scans.push(scan.equals.id);
        for (const id of scan.equals.id === undefined ? ["a", "b", "c"] : [scan.equals.id]) yield { id, n: id.charCodeAt(0) };
      },
    });
    let local: Engine;
    beforeAll(() => {
      local = createEngine([items], "linux");
    });
    afterAll(() => local.close());
    afterEach(() => {
      scans.length = 0;
    });

    it("reads everything when unbound and only the bound values otherwise", () => {
      expect(local.run("select id from items", OPTS).rows).toEqual([["a"], ["b"], ["c"]]);
      expect(scans).toEqual([undefined]);
      scans.length = 0;
      expect(local.run("select id, n from items where id = 'b'", OPTS).rows).toEqual([["b", 98]]);
      expect(scans).toEqual(["b"]);
      scans.length = 0;
      expect(local.run("select id from items where id in ('a', 'c') order by id", OPTS).rows).toEqual([["a"], ["c"]]);
      expect([...scans].sort()).toEqual(["a", "c"]);
    });

    it("takes the bound value from the outer side of a join, and filters other comparisons after reading", () => {
      expect(local.run("select x.v, i.n from (select 'b' as v) x cross join items i on i.id = x.v", OPTS).rows).toEqual([["b", 98]]);
      expect(scans).toEqual(["b"]);
      scans.length = 0;
      expect(local.run("select id from items where id like 'c%' or id <> 'a' order by id", OPTS).rows).toEqual([["b"], ["c"]]);
      expect(scans).toEqual([undefined]);
    });
  });
});
