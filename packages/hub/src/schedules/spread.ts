import { createHash } from "node:crypto";

/**
 * Where in its interval a schedule runs on one agent: a stable offset in [0, interval) from a hash of the
 * pair, so the runs of many agents (and many schedules) fall evenly over the interval instead of at once,
 * and every hub (replica) computes the same times.
 */
export function phaseOf(scheduleId: string, agentId: string, intervalMs: number): number {
  const digest = createHash("sha256").update(scheduleId).update("\0").update(agentId).digest();
  return digest.readUIntBE(0, 6) % intervalMs;
}

/**
 * The first due time strictly after `t` on the grid `phase + k × interval` (epoch ms). A run is named by
 * its due time (its slot), so slots stay increasing when the interval changes.
 */
export function nextDueAfter(t: number, intervalMs: number, phase: number): number {
  const due = Math.floor((t - phase) / intervalMs) * intervalMs + phase;
  return due > t ? due : due + intervalMs;
}
