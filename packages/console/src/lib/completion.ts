import type { HubSchema } from "@uplink/protocol";

/*
 * SQL completion of table and column names from the schema the hub learned from an agent. Pure functions
 * of the text and the caret: the editor (components/sql-editor.tsx) shows and applies what they return.
 */

/** Suggestions offered at most. */
const MAX_SUGGESTIONS = 8;

/** One completion: the name to insert, what it is, and a hint (its table and type, or its column count). */
export interface Suggestion {
  text: string;
  kind: "table" | "column";
  detail: string;
}

/** The identifier being typed just before the caret ("" when none). */
export function wordBefore(text: string, caret: number): string {
  return /[A-Za-z_][\w]*$/.exec(text.slice(0, caret))?.[0] ?? "";
}

/** Completion candidates for the word before the caret. */
export function suggest(text: string, caret: number, schema: HubSchema | null): Suggestion[] {
  if (schema === null) return [];
  const word = wordBefore(text, caret);
  if (word === "") return [];
  const before = text.slice(0, caret - word.length);
  const lower = word.toLowerCase();
  const tables = new Map(schema.tables.map((t) => [t.name.toLowerCase(), t]));

  // `alias.` or `table.`: only that table's columns.
  const dotted = /([A-Za-z_]\w*)\.$/.exec(before);
  const named = [...text.matchAll(/\b(?:from|join)\s+([A-Za-z_]\w*)(?:\s+(?:as\s+)?([A-Za-z_]\w*))?/gi)];
  let scope = named.map((m) => tables.get(m[1]!.toLowerCase())).filter((t) => t !== undefined);
  if (dotted !== null) {
    const name = dotted[1]!.toLowerCase();
    const aliased = named.find((m) => m[2]?.toLowerCase() === name)?.[1]?.toLowerCase();
    const table = tables.get(aliased ?? name);
    scope = table === undefined ? [] : [table];
  }

  const out: Suggestion[] = [];
  const afterTableKeyword = /\b(from|join)\s+$/i.test(before);
  for (const table of scope) {
    if (afterTableKeyword) break;
    for (const column of table.columns) {
      if (column.name.toLowerCase().startsWith(lower) && column.name !== word && !out.some((s) => s.text === column.name)) {
        out.push({ text: column.name, kind: "column", detail: `${table.name}${column.type ? " · " + column.type : ""}` });
      }
    }
  }
  if (dotted === null) {
    for (const table of schema.tables) {
      if (table.name.toLowerCase().startsWith(lower) && table.name !== word) out.push({ text: table.name, kind: "table", detail: `${table.columns.length} columns` });
    }
  }
  return out.slice(0, MAX_SUGGESTIONS);
}
