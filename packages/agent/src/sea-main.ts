/**
 * Entry point of the packaged single executable (`pnpm package` bundles this file). One executable plays
 * two roles: the `uplink-agent` CLI and daemon, or — when the worker pool starts it with the role switch
 * in its environment — a query worker answering over its IPC channel.
 *
 * The worker's code is not in this bundle: it is a bundle of its own (`sql/query-worker.js` with the SQL
 * engine and the tables, nothing of the daemon's logger, socket or command line), carried as a SEA asset
 * and compiled only in the worker role, so a worker neither parses nor holds the daemon's code.
 */
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { getAsset } from "node:sea";
import { compileFunction } from "node:vm";
import { WORKER_ASSET, WORKER_ROLE, WORKER_ROLE_ENV } from "./single-executable.js";

if (process.env[WORKER_ROLE_ENV] === WORKER_ROLE) {
  // Not inherited by anything the worker might start, and not shown in its environment.
  delete process.env[WORKER_ROLE_ENV];
  runWorkerBundle();
} else {
  void import("./main.js");
}

/** Runs the worker bundle as a CommonJS module whose `require` reaches Node's built-in modules. */
function runWorkerBundle(): void {
  const filename = `${process.execPath}/${WORKER_ASSET}`;
  const module = { exports: {} };
  const run = compileFunction(getAsset(WORKER_ASSET, "utf8"), ["require", "module", "exports", "__filename", "__dirname"], { filename }) as (
    ...args: unknown[]
  ) => void;
  run(createRequire(process.execPath), module, module.exports, filename, dirname(process.execPath));
}
