import { availableParallelism, freemem, loadavg, totalmem } from "node:os";
import type { HealthResult, HealthStatus } from "@uplink/protocol";

/** Degraded when the 1-minute load average exceeds this many runnable tasks per CPU. */
export const DEGRADED_LOAD_PER_CPU = 2;
/** Degraded when less than this fraction of memory is available. */
export const DEGRADED_MEM_FREE_RATIO = 0.05;

/** A reading of the host, as `health` reports it. */
export interface HostSample {
  load1: number;
  cpuCount: number;
  memFreeBytes: number;
  memTotalBytes: number;
}

/** What the agent itself contributes to a health result. */
export interface AgentSample {
  agentVersion: string;
  /** Queries running now (health polls are never counted). */
  inflight: number;
  collectors: readonly string[];
}

/** Reads load, CPU count and memory from the OS. Synchronous and cheap: no I/O beyond a few syscalls. */
export function sampleHost(): HostSample {
  return {
    load1: loadavg()[0] ?? 0,
    cpuCount: availableParallelism(),
    memFreeBytes: freemem(),
    memTotalBytes: totalmem(),
  };
}

/**
 * `degraded` when the host is overloaded (load1 > {@link DEGRADED_LOAD_PER_CPU} × CPUs) or short of memory
 * (available < {@link DEGRADED_MEM_FREE_RATIO} of total); `ok` otherwise. The agent itself answering is
 * what proves liveness, so there is no "down" status.
 */
export function healthStatus(host: HostSample): HealthStatus {
  if (host.load1 > host.cpuCount * DEGRADED_LOAD_PER_CPU) return "degraded";
  if (host.memTotalBytes > 0 && host.memFreeBytes / host.memTotalBytes < DEGRADED_MEM_FREE_RATIO) return "degraded";
  return "ok";
}

/** Builds the result of a `kind: "health"` command. `uptimeS` is the agent process's uptime. */
export function buildHealth(agent: AgentSample, host: HostSample = sampleHost()): HealthResult {
  return {
    status: healthStatus(host),
    agentVersion: agent.agentVersion,
    uptimeS: Math.floor(process.uptime()),
    load1: host.load1,
    memFreeBytes: host.memFreeBytes,
    memTotalBytes: host.memTotalBytes,
    inflight: agent.inflight,
    collectors: [...agent.collectors],
  };
}
