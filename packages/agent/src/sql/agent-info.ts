import {
  DEFAULT_MAX_INFLIGHT,
  DEFAULT_MAX_RESULT_BYTES,
  DEFAULT_MAX_RESULT_ROWS,
  DEFAULT_QUERY_TIMEOUT_MS,
} from "@uplink/protocol";
import { AGENT_VERSION } from "../version.js";

/**
 * What the `agent` table shows, as the main thread sees it when a query starts. The host collector
 * asks for a fresh snapshot with every query (`createHostCollector({ agentInfo })`), because the
 * query itself runs in a worker process that cannot see the daemon's state.
 */
export interface AgentInfo {
  readonly version: string;
  /** The hub URL, or null when the agent runs locally without one. */
  readonly hub: string | null;
  /** The hub connection's state, as the daemon names it (e.g. "connected", "backoff", "local"). */
  readonly connectionState: string;
  /** Commands running now. */
  readonly inflight: number;
  readonly maxInflight: number;
  readonly maxResultRows: number;
  readonly maxResultBytes: number;
  readonly queryTimeoutMs: number;
  /** Seconds the agent process has been running (for osquery_info.start_time); absent means unknown. */
  readonly uptimeS?: number;
}

/** The snapshot the local tools (`uplink-agent query`) use: no hub, nothing in flight, default limits. */
export function localAgentInfo(): AgentInfo {
  return {
    version: AGENT_VERSION,
    hub: null,
    connectionState: "local",
    inflight: 0,
    maxInflight: DEFAULT_MAX_INFLIGHT,
    maxResultRows: DEFAULT_MAX_RESULT_ROWS,
    maxResultBytes: DEFAULT_MAX_RESULT_BYTES,
    queryTimeoutMs: DEFAULT_QUERY_TIMEOUT_MS,
    uptimeS: process.uptime(),
  };
}
