import type { QueryResult } from "@uplink/protocol";

/** What a collector gets with each query. */
export interface QueryContext {
  /** Aborted when the hub sends `cancel` or the deadline passes; the collector stops the work at once. */
  signal: AbortSignal;
  /** Milliseconds left until the command's deadline. */
  timeoutMs: number;
  /** Result caps (docs/architecture.md, "Limits"): past either, the result is cut and says `truncated: true`. */
  maxRows: number;
  maxBytes: number;
}

/**
 * Answers the `query` of a `session_command` whose `collector` names it.
 * Failures are thrown as `CollectorError` with a wire code (`query_failed`, `read_only`,
 * `unsupported_query`, `timeout`, `cancelled`, ...).
 */
export interface Collector {
  readonly name: string;
  query(query: string, ctx: QueryContext): Promise<QueryResult>;
  /** Releases workers and handles; idempotent. */
  close(): Promise<void>;
}
