import { defineTable } from "../table-def.js";
import { readTextIfPresent } from "./proc.js";

/** `agent`: this agent's own state, from the snapshot the main process passes with the query. */
export const agentTable = defineTable({
  name: "agent",
  description: "This Uplink agent: version, hub, connection state, load and configured limits (one row).",
  note: "uplink",
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

/** osquery's platform_mask bits (osquery/core/query.h): POSIX 1, Windows 2, BSD 4, Linux 8, macOS 16. */
const PLATFORM_MASK: Partial<Record<NodeJS.Platform, number>> = { linux: 9, darwin: 17, freebsd: 5, openbsd: 5, netbsd: 5, win32: 2 };

/** `osquery_info`: the agent described in osquery's shape, so monitoring queries written for osquery run. */
export const osqueryInfoTable = defineTable({
  name: "osquery_info",
  description: "This agent in osquery's osquery_info shape (one row): the process answering the queries.",
  note: "describes the Uplink agent, not osquery",
  columns: [
    { name: "pid", type: "INTEGER", description: "Process id of the agent" },
    { name: "uuid", type: "TEXT", description: "Host identity: /etc/machine-id; empty when absent", note: "osquery uses the hardware UUID" },
    { name: "instance_id", type: "TEXT", description: "Identity of this agent process: the pid and start time", note: "not persisted across restarts" },
    { name: "version", type: "TEXT", description: "Uplink agent version", note: "the Uplink agent's version" },
    { name: "config_hash", type: "TEXT", description: "Empty: the agent has no osquery configuration", note: "always empty" },
    { name: "config_valid", type: "INTEGER", description: "1: the agent's configuration was validated at start", note: "always 1" },
    { name: "extensions", type: "TEXT", description: "inactive: the agent loads no extensions", note: "always inactive" },
    { name: "build_platform", type: "TEXT", description: "Platform the agent runs on (linux, darwin, ...)" },
    { name: "build_distro", type: "TEXT", description: "Node.js version the agent runs on", note: "the Node.js version" },
    { name: "start_time", type: "INTEGER", description: "When the agent process started, Unix seconds", note: "the worker's estimate of the agent's start" },
    { name: "watcher", type: "INTEGER", description: "-1: no watcher process", note: "always -1" },
    { name: "platform_mask", type: "INTEGER", description: "osquery's platform bitmask of this platform" },
  ],
  *rows(ctx) {
    const a = ctx.agent;
    const startTime = Math.floor(Date.now() / 1000 - (a.uptimeS ?? process.uptime()));
    yield {
      pid: a.pid,
      uuid: readTextIfPresent(ctx.hostPath("/etc/machine-id"))?.trim() ?? "",
      instance_id: `${a.pid}-${startTime}`,
      version: a.version,
      config_hash: "",
      config_valid: 1,
      extensions: "inactive",
      build_platform: ctx.platform,
      build_distro: `node ${process.versions.node}`,
      start_time: startTime,
      watcher: -1,
      platform_mask: PLATFORM_MASK[ctx.platform] ?? 0,
    };
  },
});
