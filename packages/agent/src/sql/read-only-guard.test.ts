import Database from "better-sqlite3";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { CollectorError } from "../errors.js";
import { localAgentInfo } from "./agent-info.js";
import { createEngine, type RunOptions } from "./engine.js";
import { checkReadOnly, shadowPragmaTables, tokenize } from "./read-only-guard.js";
import { HOST_TABLES } from "./tables/index.js";

describe("checkReadOnly", () => {
  it.each([
    "select 1",
    "SELECT * FROM processes WHERE name = 'insert'",
    "  /* lead */ -- line\n select 1 ;  ",
    "values (1), (2)",
    "with recursive s(n) as (select 1 union all select n + 1 from s limit 3) select n from s",
    "with a as materialized (select 1), b as (select * from a) select * from b",
    "with x as (select case when 1 then 2 end as c) select c from x",
    "explain select 1",
    "explain query plan select * from users",
    "pragma table_info(processes)",
    "PRAGMA main.table_list",
    "select * from pragma_table_info('processes')",
    "select 'load_extension(1); drop table t' as s",
  ])("lets %j through", (sql) => {
    expect(checkReadOnly(sql)).toEqual({ ok: true });
  });

  it("refuses the name load_extension wherever it appears, since identifiers are not resolved", () => {
    expect(checkReadOnly('select 1 as "load_extension"')).toMatchObject({ ok: false, code: "read_only" });
  });

  it.each([
    ["insert into t values (1)", /^INSERT is refused/],
    ["  -- c\n Update t set a = 1", /^UPDATE is refused/],
    ["DELETE FROM t", /^DELETE is refused/],
    ["create temp table t(a)", /^CREATE is refused/],
    ["drop table t", /^DROP is refused/],
    ["attach ':memory:' as m", /^ATTACH is refused/],
    ["detach m", /^DETACH is refused/],
    ["vacuum into '/tmp/x'", /^VACUUM is refused/],
    ["explain query plan insert into t values (1)", /^INSERT is refused/],
    ["with x as (select 1) insert into t select * from x", /^WITH … INSERT is refused/],
    ["with x(a) as (select 1) update t set a = 1", /^WITH … UPDATE is refused/],
    ["pragma journal_mode = wal", /^PRAGMA assignments are refused/],
    ["pragma main.cache_size(10)", /^PRAGMA cache_size is refused/],
    ["pragma writable_schema", /^PRAGMA writable_schema is refused/],
    ["select load_extension('x')", /^loading extensions/],
    ["select `load_extension`('x')", /^loading extensions/],
    ["select * from pragma_optimize", /^pragma_optimize is refused/],
    ["select * from [pragma_wal_checkpoint]", /^pragma_wal_checkpoint is refused/],
    ["begin; insert into t values (1); commit", /^BEGIN is refused/],
  ])("refuses %j as read_only", (sql, message) => {
    const verdict = checkReadOnly(sql);
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) {
      expect(verdict.code).toBe("read_only");
      expect(verdict.message).toMatch(message);
    }
  });

  it("reports text without a statement as empty_query", () => {
    expect(checkReadOnly("")).toMatchObject({ ok: false, code: "empty_query" });
    expect(checkReadOnly(" ; -- only a comment")).toMatchObject({ ok: false, code: "empty_query" });
  });

  it("refuses a second statement after an allowed one", () => {
    expect(checkReadOnly("select 1; select 2")).toMatchObject({ ok: false, code: "query_failed" });
    expect(checkReadOnly("select 1; attach 'x' as y")).toMatchObject({ ok: false, code: "query_failed" });
  });

  it("leaves syntax errors to SQLite", () => {
    expect(checkReadOnly("selec 1")).toEqual({ ok: true });
    expect(checkReadOnly("explain")).toEqual({ ok: true });
  });
});

describe("tokenize", () => {
  it("keeps strings opaque, unquotes identifiers and tracks parenthesis depth", () => {
    const tokens = tokenize(`select 'a''b', "Q""x", [br], f(g(1)) -- tail`);
    expect(tokens.map((t) => [t.kind, t.text, t.depth])).toEqual([
      ["word", "select", 0],
      ["string", "a'b", 0],
      ["punct", ",", 0],
      ["ident", 'q"x', 0],
      ["punct", ",", 0],
      ["ident", "br", 0],
      ["punct", ",", 0],
      ["word", "f", 0],
      ["punct", "(", 0],
      ["word", "g", 1],
      ["punct", "(", 1],
      ["word", "1", 2],
      ["punct", ")", 1],
      ["punct", ")", 0],
    ]);
  });

  it("survives unterminated strings and comments", () => {
    expect(tokenize("select 'abc").map((t) => t.kind)).toEqual(["word", "string"]);
    expect(tokenize("select /* never closed").map((t) => t.text)).toEqual(["select"]);
  });
});

describe("shadowPragmaTables (through the engine)", () => {
  const engine = createEngine(HOST_TABLES, "linux");
  afterAll(() => engine.close());
  const opts: RunOptions = { maxRows: 100, maxBytes: 1024 * 1024, agent: { ...localAgentInfo(), pid: process.pid } };
  const codeOf = (sql: string): string => {
    try {
      engine.run(sql, opts);
      return "ok";
    } catch (err) {
      return err instanceof CollectorError ? err.code : `thrown: ${String(err)}`;
    }
  };

  it.each([
    "select * from 'pragma_journal_mode'",
    "select * from 'pragma_optimize'(65538)",
    "select * from 'pragma_journal_mode'('off')",
    'select * from "pragma_user_version"(7)',
    "select * from [pragma_writable_schema]",
    "select * from `pragma_cache_size`",
    "select * from main.pragma_journal_mode",
    "select * from main.'pragma_optimize'",
    "select * from \"main\".\"PRAGMA_OPTIMIZE\"(65538)",
    "select * from temp.pragma_journal_mode('off')",
    "select journal_mode from 'pragma_journal_mode'",
    "select (select count(*) from 'pragma_integrity_check') as n",
    "select * from processes join 'pragma_optimize' limit 1",
  ])("refuses %j by what SQLite resolves", (sql) => {
    expect(codeOf(sql)).toBe("read_only");
  });

  it("still answers the introspection tables", () => {
    expect(codeOf("select * from 'pragma_table_info'('processes')")).toBe("ok");
    expect(engine.run("select count(*) from pragma_function_list", opts).rows[0]?.[0]).toBeGreaterThan(10);
  });

  it("refuses every spelling of every non-introspection pragma table (fuzz)", () => {
    const shadowed = shadowPragmaTables(new Database(":memory:")).map((t) => t.slice("pragma_".length));
    expect(shadowed).toEqual(expect.arrayContaining(["journal_mode", "optimize", "user_version", "writable_schema", "integrity_check"]));
    const quote = (name: string, how: number): string =>
      [name, `'${name}'`, `"${name}"`, `[${name}]`, `\`${name}\``][how] as string;
    const spelling = fc
      .record({
        pragma: fc.constantFrom(...shadowed),
        cases: fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
        quoting: fc.integer({ min: 0, max: 4 }),
        schema: fc.constantFrom(undefined, "main", "temp"),
        schemaQuoting: fc.integer({ min: 0, max: 4 }),
        args: fc.constantFrom(undefined, [], ["65538"], ["'off'"], ["1", "'main'"]),
        gap: fc.constantFrom(" ", "\n", "  /* x */ ", "\t-- c\n"),
        shape: fc.integer({ min: 0, max: 4 }),
      })
      .map(({ pragma, cases, quoting, schema, schemaQuoting, args, gap, shape }) => {
        const cased = [...`pragma_${pragma}`].map((c, i) => (cases[i] ? c.toUpperCase() : c)).join("");
        const name = `${schema === undefined ? "" : `${quote(schema, schemaQuoting)}.`}${quote(cased, quoting)}`;
        const call = args === undefined ? name : `${name}${gap}(${args.join(", ")})`;
        return [
          `select * from${gap}${call}`,
          `select count(*) from ${call} as p`,
          `select 1 from processes, ${call} limit 1`,
          `with x as (select * from ${call}) select * from x`,
          `select exists (select 1 from${gap}${call})`,
        ][shape] as string;
      });
    fc.assert(
      fc.property(spelling, (sql) => {
        expect({ sql, code: codeOf(sql) }).toEqual({ sql, code: "read_only" });
      }),
      { numRuns: 400 },
    );
  });
});
