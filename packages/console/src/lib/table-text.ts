import type { Cell } from "@uplink/protocol";

/* A result table as text: CSV and JSON, what the export buttons offer. Pure, so unit-tested beside. */

/** A table as the console shows and exports it: columns and rows of cells. */
export interface Table {
  columns: string[];
  rows: Cell[][];
}

/** RFC 4180 CSV: every field quoted when it holds a comma, a quote or a line break; null as empty. */
export function toCsv(table: Table): string {
  const field = (cell: Cell | string) => {
    const text = cell === null ? "" : String(cell);
    // A text starting with =, +, - or @ would be read as a formula by a spreadsheet: prefix it with a quote
    // (numbers stay numbers).
    const safe = typeof cell === "string" && /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
    return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
  };
  return [table.columns, ...table.rows].map((row) => row.map(field).join(",")).join("\r\n") + "\r\n";
}

/** The rows as an array of objects keyed by column, pretty-printed. */
export function toJson(table: Table): string {
  return JSON.stringify(
    table.rows.map((row) => Object.fromEntries(table.columns.map((c, i) => [c, row[i] ?? null]))),
    null,
    2,
  );
}
