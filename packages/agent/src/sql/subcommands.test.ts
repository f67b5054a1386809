import { Command } from "commander";
import type { QueryResult } from "@uplink/protocol";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Collector } from "../collectors/collector.js";
import { formatResult, registerQuery, runQuery } from "../subcommands/query.js";
import { registerTables, runTables } from "../subcommands/tables.js";
import { CollectorError } from "../errors.js";
import { localAgentInfo } from "./agent-info.js";
import { createEngine } from "./engine.js";
import type { TableInfo } from "./table-def.js";
import { HOST_TABLES } from "./tables/index.js";

// The local tools' formatting and error paths, with the engine in-process behind a Collector; the real
// worker-backed path of `query` is covered in host-collector.test.ts.

/** A Collector over an in-process engine, for tests that need SQL but not a worker. */
function inProcessCollector(): Collector {
  const engine = createEngine(HOST_TABLES);
  return {
    name: "host",
    query: async (sql, ctx) => engine.run(sql, { maxRows: ctx.maxRows, maxBytes: ctx.maxBytes, agent: { ...localAgentInfo(), pid: process.pid } }),
    close: async () => engine.close(),
  };
}

afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

describe("uplink-agent tables", () => {
  it("prints every table with its description and typed columns", async () => {
    const text = await runTables({ platform: "linux" });
    expect(text).toContain("processes — Running processes");
    expect(text).toMatch(/^ {2}pid +INTEGER +Process id$/m);
    expect(text).toMatch(/^ {2}cmdline +TEXT +Command line/m);
    for (const t of HOST_TABLES) expect(text).toContain(`${t.name} — `);
  });

  it("marks tables a platform cannot provide", async () => {
    expect(await runTables({ platform: "darwin" })).toContain("[linux only; not available on darwin]");
  });

  it("prints JSON with --json", async () => {
    const tables = JSON.parse(await runTables({ json: true, platform: "linux" })) as TableInfo[];
    expect(tables.find((t) => t.name === "users")).toMatchObject({ platforms: ["linux"], available: true });
  });

  it("is wired as a commander command", async () => {
    const write = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    const program = new Command().exitOverride();
    registerTables(program);
    await program.parseAsync(["node", "uplink-agent", "tables", "--json"]);
    expect(JSON.parse(String(write.mock.calls[0]?.[0])).length).toBe(HOST_TABLES.length);
  });
});

describe("uplink-agent query", () => {
  it("aligns columns, right-aligns numbers, spells NULL and cuts long text", () => {
    const result: QueryResult = {
      columns: ["name", "rss", "note"],
      rows: [
        ["init", 1024, null],
        ["a\tb", 7, "x".repeat(100)],
      ],
      rowCount: 2,
      truncated: true,
    };
    expect(formatResult(result).split("\n")).toEqual([
      "name   rss  note",
      "----  ----  ------------------------------------------------------------",
      "init  1024  NULL",
      `a\\tb     7  ${"x".repeat(59)}…`,
      "(2 rows, truncated by the result caps)",
    ]);
  });

  it("escapes terminal controls and bidi overrides from data and column names", () => {
    const result: QueryResult = {
      columns: ["na\u001b[2Jme"],
      rows: [["\u001b]0;owned\u0007"], ["evil\u202egnp.exe\u009b"]],
      rowCount: 2,
      truncated: false,
    };
    const text = formatResult(result);
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/);
    expect(text.split("\n")).toEqual([
      "na\\x1b[2Jme",
      "-".repeat(21),
      "\\x1b]0;owned\\x07",
      "evil\\u202egnp.exe\\x9b",
      "(2 rows)",
    ]);
  });

  it("prints the QueryResult JSON with json", async () => {
    const collector = inProcessCollector();
    try {
      const out = await runQuery("select 1 as one", { json: true, collector });
      expect(JSON.parse(out)).toEqual({ columns: ["one"], rows: [[1]], rowCount: 1, truncated: false });
    } finally {
      await collector.close();
    }
  });

  it("passes the caps to the collector", async () => {
    const collector = inProcessCollector();
    try {
      const out = await runQuery("select * from cpu_time", { collector, maxRows: 1 });
      expect(out).toMatch(/\(1 row(, truncated by the result caps)?\)$/);
    } finally {
      await collector.close();
    }
  });

  it("prints error [code]: message to stderr and sets a non-zero exit code on failure", async () => {
    const err = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const program = new Command().exitOverride();
    registerQuery(program);
    await program.parseAsync(["node", "uplink-agent", "query", "select 1", "--max-result-rows", "zero"]);
    expect(err).toHaveBeenCalledWith(
      "error [invalid_request]: invalid --max-result-rows / UPLINK_MAX_RESULT_ROWS: expected a positive integer, got zero\n",
    );
    expect(process.exitCode).toBe(1);
  });

  it("throws the collector's typed errors from runQuery", async () => {
    const failing: Collector = {
      name: "host",
      query: async () => {
        throw new CollectorError("query_failed", "no such table: x");
      },
      close: async () => {},
    };
    await expect(runQuery("select * from x", { collector: failing })).rejects.toMatchObject({ code: "query_failed" });
  });
});
