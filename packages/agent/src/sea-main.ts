/**
 * Entry point of the packaged single executable (`pnpm package` bundles this file). One executable plays
 * two roles: the `uplink-agent` CLI and daemon, or — when the worker pool starts it with the role switch
 * in its environment — a query worker answering over its IPC channel.
 */
import { WORKER_ROLE, WORKER_ROLE_ENV } from "./single-executable.js";

if (process.env[WORKER_ROLE_ENV] === WORKER_ROLE) {
  // Not inherited by anything the worker might start, and not shown in its environment.
  delete process.env[WORKER_ROLE_ENV];
  void import("./sql/query-worker.js");
} else {
  void import("./main.js");
}
