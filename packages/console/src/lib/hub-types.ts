/**
 * Shapes of the console's own routes (session, health samples, schema), as the hub answers them.
 * Everything else is typed by @uplink/protocol, imported with `import type` so no zod reaches the bundle.
 */
import type { AgentStatus } from "@uplink/protocol";

/** `GET /api/v1/agents/:id/health` 200. */
export interface HealthSamples {
  samples: { at: string; status: AgentStatus | string; load1: number | null; memFreeBytes: number | null; memTotalBytes: number | null; inflight: number | null }[];
}

/** `GET /api/v1/schema` 200: what SQL completion offers. */
export interface SchemaAnswer {
  agentId: string | null;
  agentVersion: string | null;
  tables: { name: string; columns: { name: string; type: string }[] }[];
}
