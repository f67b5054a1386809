import type { ErrorCode, QueryResult } from "@uplink/protocol";
import type { AgentSnapshot } from "./table-def.js";

/** Host collector → query worker, over the child process's IPC channel: run one query. */
export interface WorkerRequest {
  /** Matches the reply to the request; a worker runs one query at a time, the id guards against mix-ups. */
  id: number;
  sql: string;
  maxRows: number;
  maxBytes: number;
  agent: AgentSnapshot;
  /** SQLite's hard heap limit for the query (0: none); the pool's RSS watchdog is the bound that always holds. */
  heapLimitBytes: number;
  /** Directory read as the host's `/` by tables that read host files. */
  hostRoot: string;
  /** Whether the tables marked secret answer. */
  secretTablesEnabled: boolean;
}

/** Query worker → host collector: the result, or the error code and message to throw as `CollectorError`. */
export type WorkerReply =
  | { id: number; ok: true; result: QueryResult }
  | { id: number; ok: false; code: ErrorCode; message: string };
