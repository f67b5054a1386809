import type { HealthStatus } from "@uplink/protocol";

/**
 * One health sample of an agent, as the store keeps it (a time in epoch ms): a row of
 * `agent_health_samples`, appended by the presence flush for each agent with a health result, read newest
 * first by `(agent_id, at)` for the agent's chart and pruned by age (`--health-retention`, store/pruner.ts).
 */
export interface HealthSampleRecord {
  at: number;
  status: HealthStatus;
  load1: number;
  memFreeBytes: number;
  memTotalBytes: number;
  inflight: number;
}
