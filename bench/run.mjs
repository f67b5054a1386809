#!/usr/bin/env node
// Runs the benches: every bench/*.bench.mjs in name order, or only those named on the command line
// (`node bench/run.mjs round-trip host-sql`). A bench module exports `run()` (named or default) that
// resolves with a figures object, and may export `formatTable(figures)` for its readable table; progress
// goes to stderr. For each bench this prints one JSON line `{"bench": name, ...figures}` then the table.
// Figures are reported, not asserted: exit 0 unless a bench could not run at all (then 1).
import { readdirSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { join } from "node:path";

const DIR = fileURLToPath(new URL(".", import.meta.url));
const SUFFIX = ".bench.mjs";

const available = readdirSync(DIR).filter((f) => f.endsWith(SUFFIX)).map((f) => f.slice(0, -SUFFIX.length)).sort();
const wanted = process.argv.slice(2).map((a) => a.replace(/\.bench\.mjs$/, "").replace(/^.*\//, ""));
const unknown = wanted.filter((w) => !available.includes(w));
if (unknown.length > 0) {
  process.stderr.write(`bench: no bench named ${unknown.join(", ")}; available: ${available.join(", ")}\n`);
  process.exit(2);
}

/** A flat key/value table for benches without their own formatTable. */
function genericTable(figures, prefix = "") {
  const lines = [];
  for (const [k, v] of Object.entries(figures)) {
    if (v !== null && typeof v === "object" && !Array.isArray(v)) lines.push(genericTable(v, `${prefix}${k}.`));
    else lines.push(`${`${prefix}${k}`.padEnd(32)} ${Array.isArray(v) ? JSON.stringify(v) : v}`);
  }
  return lines.join("\n");
}

let failed = 0;
for (const name of wanted.length > 0 ? wanted : available) {
  process.stderr.write(`\n== bench ${name}\n`);
  try {
    const mod = await import(pathToFileURL(join(DIR, `${name}${SUFFIX}`)).href);
    const run = typeof mod.run === "function" ? mod.run : mod.default;
    if (typeof run !== "function") throw new Error(`${name}${SUFFIX} exports no run()`);
    const figures = await run();
    process.stdout.write(`${JSON.stringify({ bench: name, ...figures })}\n`);
    process.stdout.write(`${typeof mod.formatTable === "function" ? mod.formatTable(figures) : genericTable(figures)}\n`);
  } catch (err) {
    failed++;
    process.stderr.write(`bench ${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  }
}
process.exit(failed > 0 ? 1 : 0);
