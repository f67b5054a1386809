#!/usr/bin/env node
// Regenerates docs/tables.md from the host collector's table definitions (the compiled agent, so run
// `pnpm build` first). `--check` writes nothing and exits 1 when the file is stale, for CI.
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = new URL("../", import.meta.url);
const { renderTablesDoc, TABLES_DOC_PATH } = await import(new URL("packages/agent/dist/sql/tables-doc.js", root).href);
const { HOST_TABLES } = await import(new URL("packages/agent/dist/sql/tables/index.js", root).href);

const target = fileURLToPath(new URL(TABLES_DOC_PATH, root));
const fresh = renderTablesDoc(HOST_TABLES);
let current = "";
try {
  current = readFileSync(target, "utf8");
} catch {
  // Missing: it is stale by definition.
}
if (process.argv.includes("--check")) {
  if (current !== fresh) {
    process.stderr.write(`${TABLES_DOC_PATH} is stale; run node scripts/gen-tables-doc.mjs\n`);
    process.exitCode = 1;
  }
} else if (current !== fresh) {
  writeFileSync(target, fresh);
  process.stdout.write(`wrote ${TABLES_DOC_PATH}\n`);
} else {
  process.stdout.write(`${TABLES_DOC_PATH} is up to date\n`);
}
