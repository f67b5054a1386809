import type { ApiClient } from "./client.js";

/** A usage mistake the CLI reports with exit code 2. */
export class UsageError extends Error {}

/** What every `uplink` command gets: the client for `--hub`/`--token`, the output mode, and stdout. */
export interface CliContext {
  client: ApiClient;
  json: boolean;
  out(text: string): void;
}
