#!/usr/bin/env node
/**
 * `pnpm package`: builds what a host or an operator installs, into dist/packages/ (served by the hub at
 * /downloads/) and the npm tarballs into dist/npm/. Run after `pnpm build` (the root script does both).
 *
 *   uplink-agent-<v>-linux-<arch>.tar.gz   the agent as one executable + its systemd unit + README
 *   uplink-agent_<v>_<debarch>.deb          /usr/bin/uplink-agent, hardened unit, /etc/default, /var/lib state
 *   uplink-<v>-linux-<arch>.tar.gz          the operator CLI as one executable
 *   SHA256SUMS                              sha256sum format, every file above
 *
 * Each executable is a Node single executable application (SEA): this Node binary with an esbuild bundle
 * injected by postject. The agent also carries better-sqlite3's native addon as a SEA asset, loaded from
 * inside by sea-native-addon.cjs. Only the architecture of the building machine can be produced (the Node
 * binary and the addon are the build machine's own); linux-arm64 needs an arm64 build machine.
 *
 * `--if-stale` skips the work when dist/packages/.build-key matches the inputs (the tests use it so that
 * one run of the suite builds once).
 */
import { createHash } from "node:crypto";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const HERE = fileURLToPath(new URL(".", import.meta.url));
const OUT = join(ROOT, "dist", "packages");
const NPM_OUT = join(ROOT, "dist", "npm");
const WORK = join(ROOT, "dist", "package-work");
/** The fuse postject flips so that Node runs the injected blob (Node's documented sentinel). */
const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";
const NODE_ARCH = process.arch;
const DEB_ARCH = { x64: "amd64", arm64: "arm64" }[NODE_ARCH];

const log = (line) => process.stderr.write(`package: ${line}\n`);
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: ["ignore", "pipe", "inherit"], ...opts });
const version = (pkg) => JSON.parse(readFileSync(join(ROOT, "packages", pkg, "package.json"), "utf8")).version;

if (process.platform !== "linux" || DEB_ARCH === undefined) {
  log(`only linux-x64 and linux-arm64 build machines are supported, not ${process.platform}-${NODE_ARCH}`);
  process.exit(1);
}

/** Every input of the build, hashed: compiled packages, these scripts, the Node binary, the lockfile. */
function buildKey() {
  const hash = createHash("sha256");
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (!name.endsWith(".tsbuildinfo")) hash.update(relative(ROOT, path)).update(readFileSync(path));
    }
  };
  for (const pkg of ["protocol", "hub", "agent", "cli"]) {
    walk(join(ROOT, "packages", pkg, "dist"));
    hash.update(readFileSync(join(ROOT, "packages", pkg, "package.json")));
  }
  walk(HERE);
  hash.update(readFileSync(join(ROOT, "pnpm-lock.yaml")));
  hash.update(`${process.execPath} ${process.version} ${statSync(process.execPath).size}`);
  return hash.digest("hex");
}

/** The compiled @uplink/protocol: where its modules resolve to. */
const PROTOCOL_DIST = join(ROOT, "packages", "protocol", "dist");

/**
 * Marks every module of @uplink/protocol free of import-time effects, as it is (zod schemas and constants;
 * the `.meta()` descriptions only feed the hub's OpenAPI document), so that esbuild leaves out the modules
 * a bundle never uses. The agent uses the wire messages, the constants and the response builder: without
 * this its bundle also builds every REST schema at start (hundreds of zod schemas, ~3 MB of the idle
 * daemon's resident memory; bench/README.md, "Agent footprint").
 */
const protocolWithoutSideEffects = {
  name: "protocol-without-side-effects",
  setup(b) {
    b.onResolve({ filter: /^(@uplink\/protocol|\.{1,2}\/.*)$/ }, async (args) => {
      if (args.pluginData === "resolving" || (args.path.startsWith(".") && !args.importer.startsWith(PROTOCOL_DIST))) return undefined;
      // Resolved as esbuild would, marked so that this hook lets the nested resolution through.
      const { kind, importer, namespace, resolveDir, with: attributes } = args;
      const resolved = await b.resolve(args.path, { kind, importer, namespace, resolveDir, with: attributes, pluginData: "resolving" });
      return resolved.path.startsWith(PROTOCOL_DIST) ? { ...resolved, sideEffects: false } : resolved;
    });
  },
};

/** Bundles `entry` into one CommonJS file (SEA runs CommonJS only; `require` there reaches built-ins only). */
async function bundle(entry, outfile, { defines = {}, replace = {}, plugins = [] } = {}) {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: "node",
    target: "node20",
    format: "cjs",
    minify: true,
    legalComments: "none",
    logLevel: "error",
    // import.meta has no meaning in a CommonJS bundle; the modules that use it get a URL of the executable.
    banner: { js: 'const __sea_meta_url = require("node:url").pathToFileURL(process.execPath).href;' },
    define: { "import.meta.url": "__sea_meta_url", ...defines },
    plugins: [
      {
        // ws's optional native accelerators: modules that throw on load, so ws falls back to JavaScript
        // (left external, they would make the SEA's require() warn on every start).
        name: "absent-modules",
        setup(b) {
          b.onResolve({ filter: /^(bufferutil|utf-8-validate)$/ }, (args) => ({ path: args.path, namespace: "absent" }));
          b.onLoad({ filter: /.*/, namespace: "absent" }, (args) => ({ contents: `throw new Error("${args.path} is not bundled");` }));
        },
      },
      {
        name: "replace-modules",
        setup(b) {
          for (const [name, path] of Object.entries(replace)) {
            b.onResolve({ filter: new RegExp(`^${name}$`) }, () => ({ path }));
          }
        },
      },
      ...plugins,
    ],
  });
}

/**
 * Makes `out` a single executable application: this Node binary with the bundle (and assets) injected.
 * Its code cache is made under no V8 flags: V8 rejects it in a process started with any (Node then warns
 * "Code cache data rejected" and compiles from source), so the daemon's units set none.
 */
function makeExecutable(name, script, assets, out) {
  const blob = join(WORK, `${name}.blob`);
  const config = join(WORK, `${name}.sea.json`);
  writeFileSync(config, JSON.stringify({ main: script, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true, assets }));
  run(process.execPath, ["--experimental-sea-config", config], { stdio: ["ignore", "ignore", "inherit"] });
  copyFileSync(process.execPath, out);
  chmodSync(out, 0o755);
  const postject = join(ROOT, "node_modules", "postject", "dist", "cli.js");
  run(process.execPath, [postject, out, "NODE_SEA_BLOB", blob, "--sentinel-fuse", SEA_FUSE], { stdio: ["ignore", "ignore", "inherit"] });
}

/** Renders a template of files/ with @KEY@ placeholders. */
function template(name, values) {
  let text = readFileSync(join(HERE, "files", name), "utf8");
  for (const [key, value] of Object.entries(values)) text = text.replaceAll(`@${key}@`, value);
  return text;
}

/** Owner root, fixed mtime: the archive depends on its contents only. */
function tarGz(dir, entries, out) {
  run("tar", ["--owner=0", "--group=0", "--numeric-owner", "--mtime=@0", "--sort=name", "-C", dir, "-czf", out, ...entries], {
    env: { ...process.env, GZIP: "-6" },
  });
}

async function packageAgent() {
  const agentVersion = version("agent");
  const script = join(WORK, "uplink-agent.cjs");
  const require = createRequire(join(ROOT, "packages", "agent", "package.json"));
  const addon = join(dirname(require.resolve("better-sqlite3/package.json")), "build", "Release", "better_sqlite3.node");
  const options = {
    defines: { __UPLINK_AGENT_VERSION__: JSON.stringify(agentVersion) },
    replace: { bindings: join(HERE, "sea-native-addon.cjs") },
    plugins: [protocolWithoutSideEffects],
  };
  await bundle(join(ROOT, "packages", "agent", "dist", "sea-main.js"), script, options);
  // The query worker's own bundle (the SQL engine and the tables only), an asset sea-main runs in the
  // worker role: a worker never parses the daemon's code, nor the daemon the worker's.
  const { WORKER_ASSET } = await import(pathToFileURL(join(ROOT, "packages", "agent", "dist", "single-executable.js")).href);
  const workerScript = join(WORK, WORKER_ASSET);
  await bundle(join(ROOT, "packages", "agent", "dist", "sql", "query-worker.js"), workerScript, options);
  const exe = join(WORK, "uplink-agent");
  makeExecutable("uplink-agent", script, { "better_sqlite3.node": addon, [WORKER_ASSET]: workerScript }, exe);
  // Run as its unit runs it, and not a word on stderr (a rejected code cache would warn).
  const check = spawnSync(exe, ["--version"], { env: { PATH: "/usr/bin:/bin" }, encoding: "utf8" });
  const said = check.stdout.trim();
  if (said !== agentVersion) throw new Error(`the built uplink-agent says ${JSON.stringify(said)}, expected ${agentVersion}`);
  if (check.stderr !== "") throw new Error(`the built uplink-agent wrote to stderr at start: ${check.stderr}`);

  // The tarball: one directory with the executable, a unit for /usr/local/bin, and the README.
  const base = `uplink-agent-${agentVersion}-linux-${NODE_ARCH}`;
  const tarDir = join(WORK, base);
  mkdirSync(tarDir, { recursive: true });
  copyFileSync(exe, join(tarDir, "uplink-agent"));
  chmodSync(join(tarDir, "uplink-agent"), 0o755);
  const unitValues = { STATE_DIR: "/var/lib/uplink-agent", SETTINGS_FILE: "/etc/default/uplink-agent" };
  writeFileSync(join(tarDir, "uplink-agent.service"), template("uplink-agent.service", { ...unitValues, BIN: "/usr/local/bin/uplink-agent" }));
  copyFileSync(join(HERE, "files", "uplink-agent.default"), join(tarDir, "uplink-agent.default"));
  writeFileSync(join(tarDir, "README.md"), template("README.tarball.md", { VERSION: agentVersion, ARCH: NODE_ARCH }));
  tarGz(WORK, [base], join(OUT, `${base}.tar.gz`));

  // The .deb: files under root/, control files under root/DEBIAN.
  const root = join(WORK, "deb");
  const place = (path, contents, mode) => {
    const at = join(root, path);
    mkdirSync(dirname(at), { recursive: true });
    if (typeof contents === "string") writeFileSync(at, contents);
    else copyFileSync(contents.from, at);
    chmodSync(at, mode);
  };
  place("usr/bin/uplink-agent", { from: exe }, 0o755);
  place("lib/systemd/system/uplink-agent.service", template("uplink-agent.service", { ...unitValues, BIN: "/usr/bin/uplink-agent" }), 0o644);
  place("etc/default/uplink-agent", readFileSync(join(HERE, "files", "uplink-agent.default"), "utf8"), 0o644);
  place("usr/share/doc/uplink-agent/README.md", template("README.tarball.md", { VERSION: agentVersion, ARCH: NODE_ARCH }), 0o644);
  mkdirSync(join(root, "var", "lib", "uplink-agent"), { recursive: true });
  chmodSync(join(root, "var", "lib", "uplink-agent"), 0o700);
  const installedKiB = Math.ceil(Number(run("du", ["-sk", "--exclude=DEBIAN", root]).toString().split("\t")[0]));
  place(
    "DEBIAN/control",
    [
      "Package: uplink-agent",
      `Version: ${agentVersion}`,
      `Architecture: ${DEB_ARCH}`,
      "Maintainer: Uplink <uplink@localhost>",
      `Installed-Size: ${installedKiB}`,
      "Section: admin",
      "Priority: optional",
      "Description: Uplink agent: answers a hub's live SQL questions about this host",
      " One self-contained executable (Node and SQLite inside) and its hardened systemd unit.",
      " Enroll with `uplink-agent enroll`, or install with the hub's /install.sh.",
      "",
    ].join("\n"),
    0o644,
  );
  place("DEBIAN/conffiles", "/etc/default/uplink-agent\n", 0o644);
  for (const script of ["postinst", "prerm", "postrm"]) place(`DEBIAN/${script}`, { from: join(HERE, "files", script) }, 0o755);
  run("dpkg-deb", ["--root-owner-group", "-Zgzip", "-z6", "--build", root, join(OUT, `uplink-agent_${agentVersion}_${DEB_ARCH}.deb`)], {
    stdio: ["ignore", "ignore", "inherit"],
  });
}

async function packageCli() {
  const cliVersion = version("cli");
  const script = join(WORK, "uplink.cjs");
  await bundle(join(ROOT, "packages", "cli", "dist", "main.js"), script);
  const base = `uplink-${cliVersion}-linux-${NODE_ARCH}`;
  const dir = join(WORK, base);
  mkdirSync(dir, { recursive: true });
  makeExecutable("uplink", script, {}, join(dir, "uplink"));
  tarGz(WORK, [base], join(OUT, `${base}.tar.gz`));
  return script;
}

/**
 * npm tarballs of every package into dist/npm/. pnpm pack turns `workspace:*` into real versions. The hub
 * and the agent carry @uplink/protocol (and its zod) inside (bundleDependencies), as it is not on the registry: each
 * installs alone from its tarball (`npm install -g ./uplink-agent-<v>.tgz`). The CLI's tarball carries
 * one esbuild bundle and no dependencies, so it installs alone with only Node 20 and no registry.
 */
function packNpm(cliBundle) {
  mkdirSync(NPM_OUT, { recursive: true });
  const packed = (pkg) => join(NPM_OUT, `uplink-${pkg}-${version(pkg)}.tgz`);
  run("pnpm", ["pack", "--pack-destination", NPM_OUT], { cwd: join(ROOT, "packages", "protocol"), stdio: ["ignore", "ignore", "inherit"] });
  for (const pkg of ["hub", "agent"]) {
    const stage = join(WORK, `${pkg}-npm`);
    mkdirSync(join(stage, "node_modules", "@uplink", "protocol"), { recursive: true });
    run("pnpm", ["pack", "--pack-destination", stage], { cwd: join(ROOT, "packages", pkg), stdio: ["ignore", "ignore", "inherit"] });
    run("tar", ["-xzf", join(stage, `uplink-${pkg}-${version(pkg)}.tgz`), "-C", stage, "--strip-components=1"]);
    rmSync(join(stage, `uplink-${pkg}-${version(pkg)}.tgz`));
    run("tar", ["-xzf", packed("protocol"), "-C", join(stage, "node_modules", "@uplink", "protocol"), "--strip-components=1"]);
    // npm counts the dependencies of a bundled package as bundled too: zod (pure JavaScript) goes along.
    cpSync(realpathSync(join(ROOT, "packages", "protocol", "node_modules", "zod")), join(stage, "node_modules", "zod"), { recursive: true });
    const manifest = JSON.parse(readFileSync(join(stage, "package.json"), "utf8"));
    manifest.bundleDependencies = ["@uplink/protocol", "zod"];
    delete manifest.devDependencies;
    delete manifest.scripts;
    writeFileSync(join(stage, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
    run("npm", ["pack", "--silent", "--pack-destination", NPM_OUT], { cwd: stage, stdio: ["ignore", "ignore", "inherit"] });
  }
  // The CLI: a staged copy whose bin is the bundle (protocol, commander, zod, eventsource-parser, openapi-fetch inside).
  const stage = join(WORK, "cli-npm");
  mkdirSync(join(stage, "bin"), { recursive: true });
  const pkg = JSON.parse(readFileSync(join(ROOT, "packages", "cli", "package.json"), "utf8"));
  delete pkg.dependencies;
  delete pkg.devDependencies;
  delete pkg.scripts;
  delete pkg.main;
  pkg.type = "commonjs";
  pkg.bin = { uplink: "./bin/uplink.cjs" };
  pkg.files = ["bin/", "README.md"];
  writeFileSync(join(stage, "package.json"), `${JSON.stringify(pkg, null, 2)}\n`);
  writeFileSync(join(stage, "bin", "uplink.cjs"), `#!/usr/bin/env node\n${readFileSync(cliBundle, "utf8").replace(/^#!.*\n/, "")}`);
  chmodSync(join(stage, "bin", "uplink.cjs"), 0o755);
  cpSync(join(ROOT, "packages", "cli", "README.md"), join(stage, "README.md"));
  run("npm", ["pack", "--silent", "--pack-destination", NPM_OUT], { cwd: stage, stdio: ["ignore", "ignore", "inherit"] });
}

function writeSums() {
  const files = readdirSync(OUT).filter((f) => f !== "SHA256SUMS" && !f.startsWith(".")).sort();
  const lines = files.map((f) => `${createHash("sha256").update(readFileSync(join(OUT, f))).digest("hex")}  ${f}`);
  writeFileSync(join(OUT, "SHA256SUMS"), `${lines.join("\n")}\n`);
  return files;
}

const key = buildKey();
const keyFile = join(OUT, ".build-key");
if (process.argv.includes("--if-stale") && existsSync(keyFile) && readFileSync(keyFile, "utf8") === key) {
  log(`up to date in ${relative(process.cwd(), OUT) || "."}`);
  process.exit(0);
}
const started = Date.now();
rmSync(OUT, { recursive: true, force: true });
rmSync(NPM_OUT, { recursive: true, force: true });
rmSync(WORK, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
mkdirSync(WORK, { recursive: true });
await packageAgent();
const cliBundle = await packageCli();
packNpm(cliBundle);
const files = writeSums();
rmSync(WORK, { recursive: true, force: true });
writeFileSync(keyFile, key);
for (const f of [...files, "SHA256SUMS"]) log(`${join("dist/packages", f)} (${(statSync(join(OUT, f)).size / 1048576).toFixed(1)} MiB)`);
log(`npm tarballs in dist/npm/; linux-${NODE_ARCH} only (build on an arm64 machine for linux-arm64); ${((Date.now() - started) / 1000).toFixed(1)} s`);
