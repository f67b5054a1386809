#!/usr/bin/env node
// Writes docs/openapi.json, the REST API's OpenAPI 3.1 description, from the protocol package's zod
// schemas (the compiled package: `pnpm build` runs this after compiling it). `--check` writes nothing
// and exits 1 when the file is stale.
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = new URL("../", import.meta.url);
const { openApiDocument } = await import(new URL("packages/protocol/dist/index.js", root).href);

const TARGET = "docs/openapi.json";
const target = fileURLToPath(new URL(TARGET, root));
const fresh = `${JSON.stringify(openApiDocument(), null, 2)}\n`;
let current = "";
try {
  current = readFileSync(target, "utf8");
} catch {
  // Missing: stale by definition.
}
if (process.argv.includes("--check")) {
  if (current !== fresh) {
    process.stderr.write(`${TARGET} is stale; run pnpm build\n`);
    process.exitCode = 1;
  }
} else if (current !== fresh) {
  writeFileSync(target, fresh);
  process.stdout.write(`wrote ${TARGET}\n`);
}
