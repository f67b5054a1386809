"use strict";
/**
 * Stands in for the `bindings` package inside the single executable: better-sqlite3 asks it for
 * `better_sqlite3.node`, and this loads the copy carried as a SEA asset instead of searching the disk.
 *
 * A native addon can only be loaded from a file, so its bytes are written to a fresh private directory
 * (mkdtemp: mode 0700, a name nobody can predict or pre-create), loaded with process.dlopen, and the
 * directory removed at once: the mapping stays valid after the unlink, and nothing is left behind.
 * The directory is os.tmpdir() (TMPDIR), which must allow executable mappings (not `noexec`).
 */
const { getAsset } = require("node:sea");
const { mkdtempSync, rmSync, writeFileSync } = require("node:fs");
const { tmpdir } = require("node:os");
const { join } = require("node:path");

const loaded = new Map();

module.exports = function bindings(name) {
  const file = String(name).endsWith(".node") ? String(name) : `${name}.node`;
  if (loaded.has(file)) return loaded.get(file);
  const dir = mkdtempSync(join(tmpdir(), "uplink-agent-"));
  try {
    const path = join(dir, file);
    writeFileSync(path, new Uint8Array(getAsset(file)), { mode: 0o500 });
    const module = { exports: {} };
    process.dlopen(module, path);
    loaded.set(file, module.exports);
    return module.exports;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};
