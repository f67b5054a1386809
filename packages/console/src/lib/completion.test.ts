import type { HubSchema } from "@uplink/protocol";
import { describe, expect, it } from "vitest";
import { suggest } from "./completion.js";

const schema: HubSchema = {
  agentId: "agt_1",
  agentVersion: "1.0.0",
  tables: [
    { name: "processes", columns: [{ name: "pid", type: "BIGINT" }, { name: "name", type: "TEXT" }, { name: "path", type: "TEXT" }] },
    { name: "process_open_files", columns: [{ name: "pid", type: "BIGINT" }, { name: "fd", type: "BIGINT" }] },
    { name: "users", columns: [{ name: "uid", type: "BIGINT" }, { name: "username", type: "TEXT" }] },
  ],
};
const names = (text: string, caret = text.length) => suggest(text, caret, schema).map((s) => `${s.kind}:${s.text}`);

describe("suggest", () => {
  it("offers tables after FROM and JOIN, by prefix, whatever the case", () => {
    expect(names("SELECT * FROM proc")).toEqual(["table:processes", "table:process_open_files"]);
    expect(names("select * from processes p join US")).toEqual(["table:users"]);
  });

  it("offers the columns of the tables the query names, then tables", () => {
    expect(names("SELECT pa FROM processes", "SELECT pa".length)).toEqual(["column:path"]);
    expect(names("SELECT u FROM users", "SELECT u".length)).toEqual(["column:uid", "column:username", "table:users"]);
  });

  it("offers only that table's columns after an alias or a table name and a dot", () => {
    expect(names("SELECT f.f FROM process_open_files f", "SELECT f.f".length)).toEqual(["column:fd"]);
    expect(names("SELECT users.u FROM users", "SELECT users.u".length)).toEqual(["column:uid", "column:username"]);
  });

  it("offers nothing without a word before the caret, for a finished word, or without a schema", () => {
    expect(names("SELECT * FROM ")).toEqual([]);
    expect(names("SELECT * FROM users")).toEqual([]);
    expect(suggest("SELECT * FROM us", 16, null)).toEqual([]);
  });
});
