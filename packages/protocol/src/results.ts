import { z } from "zod";

/** One cell of a query result: what SQLite can produce, as JSON. */
export const Cell = z.union([z.string(), z.number(), z.boolean(), z.null()]);
export type Cell = z.infer<typeof Cell>;

/** Most columns a result may have: SQLite's own hard ceiling (SQLITE_MAX_COLUMN cannot exceed 32767). */
export const MAX_RESULT_COLUMNS = 32_767;

/**
 * The result of a `kind: "query"` command: rows are arrays aligned with `columns` (each exactly as wide)
 * and `rowCount` is the number of rows sent, so what an operator is shown is what the host said.
 */
export const QueryResult = z
  .object({
    columns: z.array(z.string()).max(MAX_RESULT_COLUMNS),
    rows: z.array(z.array(Cell)),
    rowCount: z.number().int().nonnegative(),
    truncated: z.boolean(),
  })
  .superRefine((r, ctx) => {
    const bad = r.rows.findIndex((row) => row.length !== r.columns.length);
    if (bad >= 0) {
      const width = r.rows[bad]!.length;
      ctx.addIssue({ code: "custom", path: ["rows", bad], message: `row ${bad} has ${width} cells for ${r.columns.length} columns` });
    }
    if (r.rowCount !== r.rows.length) {
      ctx.addIssue({ code: "custom", path: ["rowCount"], message: `rowCount ${r.rowCount} does not match the ${r.rows.length} rows sent` });
    }
  });
export type QueryResult = z.infer<typeof QueryResult>;

export const HealthStatus = z.enum(["ok", "degraded"]);
export type HealthStatus = z.infer<typeof HealthStatus>;

/** A finite count or size a host reports: never negative, never past 2^53. */
const Amount = z.number().nonnegative().max(Number.MAX_SAFE_INTEGER);

/**
 * The result of a `kind: "health"` command. Every field is bounded: the hub stores and serves what a
 * host reports, so nothing a host says may grow without limit (and the whole result is capped as JSON:
 * MAX_HEALTH_RESULT_BYTES). Fields not listed here are dropped.
 */
export const HealthResult = z.object({
  status: HealthStatus,
  agentVersion: z.string().max(64),
  uptimeS: Amount,
  load1: z.number().min(0).max(1e6),
  memFreeBytes: Amount,
  memTotalBytes: Amount,
  inflight: z.number().int().min(0).max(1_000_000),
  collectors: z.array(z.string().min(1).max(64)).max(64),
});
export type HealthResult = z.infer<typeof HealthResult>;
