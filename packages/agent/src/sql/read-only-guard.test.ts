import { describe, expect, it } from "vitest";
import { checkReadOnly, tokenize } from "./read-only-guard.js";

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
