import { isSea } from "node:sea";

/** The environment variable that starts the single executable as a query worker instead of the CLI. */
export const WORKER_ROLE_ENV = "UPLINK_AGENT_ROLE";
/** Its value for a query worker. */
export const WORKER_ROLE = "query-worker";
/** The SEA asset holding the query worker's own bundle (`pnpm package` builds it from sql/query-worker.js). */
export const WORKER_ASSET = "query-worker.cjs";

/**
 * True when this process is the packaged `uplink-agent` (a Node single executable application built by
 * `pnpm package`), false when it runs from the workspace or an npm install. Inside the executable there is
 * no script on disk: workers are the executable itself, and the systemd unit runs it without a script path.
 */
export function inSingleExecutable(): boolean {
  return isSea();
}
