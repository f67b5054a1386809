import { readFileSync } from "node:fs";

function readVersion(): string {
  // src/ (tests) and dist/ (the bin) both sit one level below the package root.
  const pkg: unknown = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
  const version = (pkg as { version?: unknown }).version;
  return typeof version === "string" ? version : "0.0.0";
}

/** Set by `pnpm package` in the single executable, which has no package.json beside it. */
declare const __UPLINK_AGENT_VERSION__: string | undefined;

/** The agent's version, from its package.json; announced in `hello` and in health results. */
export const AGENT_VERSION: string = typeof __UPLINK_AGENT_VERSION__ === "string" ? __UPLINK_AGENT_VERSION__ : readVersion();
