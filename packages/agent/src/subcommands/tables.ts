import { printable } from "@uplink/protocol";
import type { Command } from "commander";
import { toWireError } from "../errors.js";
import { describeTable, type TableInfo } from "../sql/table-def.js";

/** Options of {@link runTables}. */
export interface TablesCommandOptions {
  /** Print the tables as a JSON array of `TableInfo` instead of text. */
  json?: boolean;
  /** The platform to describe availability for (default: this process's). */
  platform?: NodeJS.Platform;
}

/**
 * The work of `uplink-agent tables`: every table of the host collector with its description, its
 * columns (name, type, description) and where it is available. Returns the text to print (no final
 * newline); it reads the same definitions as the engine and docs/tables.md, so it cannot drift.
 */
export async function runTables(options: TablesCommandOptions = {}): Promise<string> {
  const platform = options.platform ?? process.platform;
  // Loaded here, not at the top: the daemon registers this command but never runs it.
  const { HOST_TABLES } = await import("../sql/tables/index.js");
  const tables = HOST_TABLES.map((def) => describeTable(def, platform));
  if (options.json === true) return JSON.stringify(tables, null, 2);
  return tables.map((t) => renderTable(t, platform)).join("\n\n");
}

function renderTable(t: TableInfo, platform: NodeJS.Platform): string {
  let where = "";
  if (t.platforms !== undefined) where = ` [${t.platforms.join(", ")} only${t.available ? "" : `; not available on ${platform}`}]`;
  const nameWidth = Math.max(...t.columns.map((c) => c.name.length));
  const lines = t.columns.map((c) => printable(`  ${c.name.padEnd(nameWidth)}  ${c.type.padEnd(7)}  ${c.description ?? ""}`.trimEnd()));
  const needs = t.constraints === undefined ? "" : ` [requires ${t.constraints.join(" or ")}]`;
  const secret = t.secret === true ? " [secret: --enable-secret-tables]" : "";
  return [printable(`${t.name} — ${t.description}${where}${needs}${secret}`), ...lines].join("\n");
}

/** Wires `uplink-agent tables [--json]`. A failure prints `error [code]: message` to stderr and sets a non-zero exit code. */
export function registerTables(program: Command): Command {
  return program
    .command("tables")
    .description("list the tables `query` can read, with their columns and descriptions")
    .option("--json", "print JSON instead of text")
    .action(async (options: { json?: boolean }) => {
      try {
        process.stdout.write(`${await runTables({ json: options.json === true })}\n`);
      } catch (err) {
        const { code, error } = toWireError(err);
        process.stderr.write(`error [${code}]: ${printable(error)}\n`);
        process.exitCode = 1;
      }
    });
}
