import type { AgentStatus, AgentView } from "@uplink/protocol";
import { queryString } from "./api.js";

/** What the fleet page shows: a status (or any) and labels every agent must carry. */
export interface FleetFilter {
  status: AgentStatus | "";
  labels: Record<string, string>;
}

/** `?status=&label=k=v…` of a filter, with a page's `limit` and `after` when given. */
export function fleetQuery(filter: FleetFilter, page: { limit?: number; after?: string } = {}): string {
  const label = Object.entries(filter.labels)
    .sort(([a], [b]) => compareCodePoints(a, b))
    .map(([k, v]) => `${k}=${v}`);
  return queryString({ status: filter.status === "" ? undefined : filter.status, label, limit: page.limit, after: page.after });
}

/** True when the agent belongs to the filter's view (its status, every label). */
export function matches(agent: AgentView, filter: FleetFilter): boolean {
  if (filter.status !== "" && agent.status !== filter.status) return false;
  return Object.entries(filter.labels).every(([k, v]) => agent.labels[k] === v);
}

/** The agent list's order, as the hub sorts it: hostname, then id, in byte (code point) order. */
export function compareAgents(a: Pick<AgentView, "hostname" | "id">, b: Pick<AgentView, "hostname" | "id">): number {
  return compareCodePoints(a.hostname, b.hostname) || compareCodePoints(a.id, b.id);
}

/** Code point order, which is UTF-8 byte order (JS `<` compares UTF-16 units, which differs past U+FFFF). */
export function compareCodePoints(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}
