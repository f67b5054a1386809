import { defineTable } from "../table-def.js";

/** `agent`: this agent's own state, from the snapshot the main process passes with the query. */
export const agentTable = defineTable({
  name: "agent",
  description: "This Uplink agent: version, hub, connection state, load and configured limits (one row).",
  columns: [
    { name: "version", type: "TEXT", description: "Agent version" },
    { name: "pid", type: "INTEGER", description: "Process id of the agent (queries run in a worker process beside it)" },
    { name: "hub", type: "TEXT", description: "Hub URL; null when running locally" },
    { name: "connection_state", type: "TEXT", description: "State of the hub connection (local when run by `uplink-agent query`)" },
    { name: "inflight", type: "INTEGER", description: "Commands in flight when the query started, as the daemon counts them" },
    { name: "max_inflight", type: "INTEGER", description: "Concurrent queries allowed before answering busy" },
    { name: "max_result_rows", type: "INTEGER", description: "Row cap of a query result" },
    { name: "max_result_bytes", type: "INTEGER", description: "Byte cap of a query result (JSON size of the rows)" },
    { name: "query_timeout_ms", type: "INTEGER", description: "Default query deadline, ms" },
  ],
  *rows(ctx) {
    const a = ctx.agent;
    yield {
      version: a.version,
      pid: a.pid,
      hub: a.hub,
      connection_state: a.connectionState,
      inflight: a.inflight,
      max_inflight: a.maxInflight,
      max_result_rows: a.maxResultRows,
      max_result_bytes: a.maxResultBytes,
      query_timeout_ms: a.queryTimeoutMs,
    };
  },
});
