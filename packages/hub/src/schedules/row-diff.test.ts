import { describe, expect, it } from "vitest";
import { canonicalJson, diffRows, rowIdentity, rowsOf } from "./row-diff.js";

describe("row identity", () => {
  it("is the same for equal cells whatever the key order, and differs with any cell", () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: null } })).toBe('{"a":{"c":null,"d":[1,{"x":1,"y":2}]},"b":1}');
    expect(rowIdentity({ pid: 1, name: "sshd" })).toBe(rowIdentity({ name: "sshd", pid: 1 }));
    expect(rowIdentity({ pid: 1, name: "sshd" })).not.toBe(rowIdentity({ pid: "1", name: "sshd" }));
    expect(rowIdentity({ pid: 1, name: "sshd" })).toMatch(/^[0-9a-f]{64}$/);
  });

  it("reads a query result's rows as column → cell objects", () => {
    expect(rowsOf({ columns: ["name", "pid"], rows: [["sshd", 1], ["cron", null]], rowCount: 2, truncated: false })).toEqual([
      { name: "sshd", pid: 1 },
      { name: "cron", pid: null },
    ]);
  });
});

describe("diffRows", () => {
  it("answers exactly the rows added and removed", () => {
    const before = [{ p: "sshd" }, { p: "cron" }, { p: "nginx" }];
    const after = [{ p: "nginx" }, { p: "sshd" }, { p: "postgres" }];
    expect(diffRows(before, after)).toEqual({ added: [{ p: "postgres" }], removed: [{ p: "cron" }] });
    expect(diffRows(after, after)).toEqual({ added: [], removed: [] });
    expect(diffRows([], after)).toEqual({ added: after, removed: [] });
  });

  it("counts repeated rows: one of two equal rows gone is one removed", () => {
    expect(diffRows([{ p: 1 }, { p: 1 }], [{ p: 1 }])).toEqual({ added: [], removed: [{ p: 1 }] });
    expect(diffRows([{ p: 1 }], [{ p: 1 }, { p: 1 }, { p: 1 }])).toEqual({ added: [{ p: 1 }, { p: 1 }], removed: [] });
  });
});
