import { z } from "zod";

/** One cell of a query result: what SQLite can produce, as JSON. */
export const Cell = z.union([z.string(), z.number(), z.boolean(), z.null()]);
export type Cell = z.infer<typeof Cell>;

/** The result of a `kind: "query"` command: rows are arrays aligned with `columns`. */
export const QueryResult = z.object({
  columns: z.array(z.string()),
  rows: z.array(z.array(Cell)),
  rowCount: z.number().int().nonnegative(),
  truncated: z.boolean(),
});
export type QueryResult = z.infer<typeof QueryResult>;

export const HealthStatus = z.enum(["ok", "degraded"]);
export type HealthStatus = z.infer<typeof HealthStatus>;

/** The result of a `kind: "health"` command. */
export const HealthResult = z.object({
  status: HealthStatus,
  agentVersion: z.string(),
  uptimeS: z.number().nonnegative(),
  load1: z.number(),
  memFreeBytes: z.number().nonnegative(),
  memTotalBytes: z.number().nonnegative(),
  inflight: z.number().int().nonnegative(),
  collectors: z.array(z.string()),
});
export type HealthResult = z.infer<typeof HealthResult>;
