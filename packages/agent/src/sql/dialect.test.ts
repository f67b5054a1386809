import { describe, expect, it } from "vitest";
import { mentionedNames, quoteAsString, rewriteConstrainedColumns, unresolvedColumn } from "./dialect.js";

const COLUMNS = new Set(["path", "directory"]);

describe("osquery dialect rewrites", () => {
  it("single-quotes the double-quoted token SQLite could not resolve, and only that one", () => {
    expect(quoteAsString(`select "a" from t where x = "0.0.0.0"`, "0.0.0.0")).toBe(`select "a" from t where x = '0.0.0.0'`);
    expect(quoteAsString(`select "it's"`, "it's")).toBe(`select 'it''s'`);
    expect(quoteAsString(`select x from t -- "y"`, "y")).toBeUndefined();
  });

  it("reads the column of SQLite's message, quoted or not", () => {
    expect(unresolvedColumn('no such column: "0.0.0.0" - should this be a string literal in single-quotes?')).toBe("0.0.0.0");
    expect(unresolvedColumn("no such column: foo")).toBe("foo");
    expect(unresolvedColumn("no such table: x")).toBeUndefined();
  });

  it("prefixes constrained columns compared by anything but = or IN, and collects LIKE literals", () => {
    const r = rewriteConstrainedColumns("select * from file f where f.path like '/etc/%%' and directory <> '/x' and path = '/a' and path in ('/b')", COLUMNS);
    expect(r.sql).toBe("select * from file f where +f.path like '/etc/%%' and +directory <> '/x' and path = '/a' and path in ('/b')");
    expect(r.likes).toEqual({ path: ["/etc/%%"] });
  });

  it("lists the names a query mentions, or none when it may read every column", () => {
    expect(mentionedNames("select p.pid, count(*), cwd * 2 from processes p")).toEqual(new Set(["select", "p", "pid", "count", "cwd", "from", "processes"]));
    expect(mentionedNames("select * from processes")).toBeUndefined();
    expect(mentionedNames("select p.* from processes p")).toBeUndefined();
    expect(mentionedNames("select pid from processes natural join x")).toBeUndefined();
  });

  it("leaves strings, comments and function names alone", () => {
    const sql = "select 'path like x', path(1) -- path like 'y'\nfrom t";
    expect(rewriteConstrainedColumns(sql, COLUMNS)).toEqual({ sql, likes: {} });
  });
});
