import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { renderTablesDoc, TABLES_DOC_PATH } from "./tables-doc.js";
import { HOST_TABLES } from "./tables/index.js";

describe("docs/tables.md", () => {
  it("is what the table definitions generate (run node scripts/gen-tables-doc.mjs after changing a table)", () => {
    const committed = readFileSync(new URL(`../../../../${TABLES_DOC_PATH}`, import.meta.url), "utf8");
    expect(committed).toBe(renderTablesDoc(HOST_TABLES));
  });

  it("documents every column of every table", () => {
    const doc = renderTablesDoc(HOST_TABLES);
    for (const table of HOST_TABLES) {
      expect(doc).toContain(`## ${table.name}\n`);
      for (const column of table.columns) {
        expect(column.description, `${table.name}.${column.name}`).toBeTruthy();
        expect(doc).toContain(`| \`${column.name}\` | ${column.type} | ${column.note === undefined ? "same" : column.note === "uplink" ? "Uplink only" : ""}`);
      }
    }
  });
});
