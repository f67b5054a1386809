import type { HealthStatus } from "@uplink/protocol";
import type { PresenceRow } from "./store.js";

/** One health sample of an agent, as the store keeps it (a time in epoch ms). */
export interface HealthSampleRecord {
  at: number;
  status: HealthStatus;
  load1: number;
  memFreeBytes: number;
  memTotalBytes: number;
  inflight: number;
}

/**
 * How a sample is stored: a JSON tuple `[at, status, load1, memFreeBytes, memTotalBytes, inflight]` in the
 * agent row's `health_samples` array, so that the array every presence flush rewrites stays small.
 */
type StoredSample = [number, HealthStatus, number, number, number, number];

/** The sample a presence flush appends for `row` (JSON), or null when the row carries no health result. */
export function sampleOf(row: PresenceRow): string | null {
  const h = row.lastHealth;
  if (h === null) return null;
  const sample: StoredSample = [row.lastSeenAt, h.status, h.load1, h.memFreeBytes, h.memTotalBytes, h.inflight];
  return JSON.stringify(sample);
}

/** The samples of an agent row's `health_samples` array (text from SQLite, parsed JSON from PostgreSQL), oldest first. */
export function readSamples(stored: unknown): HealthSampleRecord[] {
  const tuples = (typeof stored === "string" ? JSON.parse(stored) : (stored ?? [])) as StoredSample[];
  return tuples.map(([at, status, load1, memFreeBytes, memTotalBytes, inflight]) => ({ at, status, load1, memFreeBytes, memTotalBytes, inflight }));
}
