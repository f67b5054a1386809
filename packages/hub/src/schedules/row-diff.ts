import { createHash } from "node:crypto";
import type { QueryResult } from "@uplink/protocol";
import type { ResultRow } from "../store/schedule-store.js";

/** A query result's rows as column → cell objects (a repeated column name keeps its last cell). */
export function rowsOf(result: QueryResult): ResultRow[] {
  return result.rows.map((cells) => {
    const row: ResultRow = {};
    result.columns.forEach((column, i) => (row[column] = cells[i] ?? null));
    return row;
  });
}

/** JSON with object keys sorted at every level: the same row always reads the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** A row's identity: sha256 of its canonical JSON, hex (two rows with equal cells are the same row). */
export function rowIdentity(row: ResultRow): string {
  return createHash("sha256").update(canonicalJson(row)).digest("hex");
}

/** Rows by identity, with how many times each occurs (a result is a multiset of rows). */
function tally(rows: readonly ResultRow[]): Map<string, { row: ResultRow; n: number }> {
  const out = new Map<string, { row: ResultRow; n: number }>();
  for (const row of rows) {
    const id = rowIdentity(row);
    const seen = out.get(id);
    if (seen === undefined) out.set(id, { row, n: 1 });
    else seen.n++;
  }
  return out;
}

/**
 * What changed from `before` to `after`, by row identity, counting repeats: a row present twice before and
 * once after is removed once. Rows keep the order they have in their own result.
 */
export function diffRows(before: readonly ResultRow[], after: readonly ResultRow[]): { added: ResultRow[]; removed: ResultRow[] } {
  const was = tally(before);
  const is = tally(after);
  const added: ResultRow[] = [];
  const removed: ResultRow[] = [];
  for (const [id, { row, n }] of is) for (let i = was.get(id)?.n ?? 0; i < n; i++) added.push(row);
  for (const [id, { row, n }] of was) for (let i = is.get(id)?.n ?? 0; i < n; i++) removed.push(row);
  return { added, removed };
}
