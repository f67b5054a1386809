#!/usr/bin/env node
// Builds the web console (packages/console) into packages/hub/dist/console, which the hub serves at `/`:
// one minified, content-hashed app-<hash>.js and app-<hash>.css under assets/, the index.html that names
// them, and a .gz and .br beside each file for clients that accept them. Run by `pnpm build` after the
// packages; prints the compressed size of a first load (the budget: 150 KB).
import { build } from "esbuild";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const source = join(root, "packages/console");
const out = join(root, "packages/hub/dist/console");
const FIRST_LOAD_BUDGET = 150 * 1024;

await rm(out, { recursive: true, force: true });
await mkdir(join(out, "assets"), { recursive: true });

const result = await build({
  entryPoints: [join(source, "src/main.tsx")],
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2022", "chrome110", "firefox115", "safari16"],
  jsx: "automatic",
  jsxImportSource: "preact",
  entryNames: "app-[hash]",
  outdir: join(out, "assets"),
  metafile: true,
  legalComments: "none",
  logLevel: "warning",
});

const outputs = Object.keys(result.metafile.outputs).map((file) => join(root, file));
const js = outputs.find((f) => f.endsWith(".js"));
const css = outputs.find((f) => f.endsWith(".css"));
if (js === undefined || css === undefined) throw new Error(`expected one .js and one .css, got ${outputs.join(", ")}`);
// The bundle must not carry zod: the console imports the protocol's types only.
if (Object.keys(result.metafile.inputs).some((input) => input.includes("/zod/"))) throw new Error("zod reached the console bundle: import protocol types with `import type`");

const template = await readFile(join(source, "index.html"), "utf8");
const index = join(out, "index.html");
await writeFile(index, template.replace("%JS%", basename(js)).replace("%CSS%", basename(css)));

let firstLoad = 0;
for (const file of [index, js, css]) {
  const bytes = await readFile(file);
  const gz = gzipSync(bytes, { level: 9 });
  const br = brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length } });
  await writeFile(`${file}.gz`, gz);
  await writeFile(`${file}.br`, br);
  firstLoad += gz.length;
}
if (firstLoad > FIRST_LOAD_BUDGET) throw new Error(`the console's first load is ${firstLoad} bytes gzipped, over the ${FIRST_LOAD_BUDGET}-byte budget`);
console.log(`console: ${basename(js)}, ${basename(css)}; first load ${(firstLoad / 1024).toFixed(1)} KiB gzipped`);
