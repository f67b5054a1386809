import type { ApiClient } from "./client.js";

/** What every `uplink` command gets: the client for `--hub`/`--token`, the output mode, and stdout. */
export interface CliContext {
  client: ApiClient;
  json: boolean;
  out(text: string): void;
}
