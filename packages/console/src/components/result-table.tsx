import type { Cell } from "@uplink/protocol";
import { useState } from "preact/hooks";
import { download } from "../lib/download.js";
import { toCsv, toJson, type Table } from "../lib/table-text.js";

/** Longer cells are cut to this many characters, with the whole text one click away. */
const CUT = 120;
/** Rows rendered before "show more". */
const PAGE = 500;

/** A result table: text-only cells, long ones truncated with the full text on demand, CSV/JSON export. */
export function ResultTable({ table, name, truncated }: { table: Table; name: string; truncated?: boolean }) {
  const [limit, setLimit] = useState(PAGE);
  const rows = table.rows.slice(0, limit);
  return (
    <div class="result">
      <div class="result-head">
        <span class="muted" data-testid="row-count">
          {table.rows.length} row{table.rows.length === 1 ? "" : "s"}
          {truncated === true && " (truncated by the agent)"}
        </span>
        <span class="spacer-flex" />
        <button type="button" onClick={() => download(`${name}.csv`, "text/csv", toCsv(table))}>
          Export CSV
        </button>
        <button type="button" onClick={() => download(`${name}.json`, "application/json", toJson(table))}>
          Export JSON
        </button>
      </div>
      <div class="scroll-x">
        <table class="grid-table" data-testid="result-table">
          <thead>
            <tr>
              {table.columns.map((c) => (
                <th>{c}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr>
                {row.map((cell) => (
                  <td>
                    <CellText cell={cell} />
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {table.rows.length > limit && (
        <button type="button" class="link" onClick={() => setLimit(limit + PAGE)}>
          Show {Math.min(PAGE, table.rows.length - limit)} more rows
        </button>
      )}
    </div>
  );
}

/** One cell as text; null shows as a dim "null"; a long value is cut, its whole text shown on demand. */
export function CellText({ cell }: { cell: Cell }) {
  const [open, setOpen] = useState(false);
  if (cell === null) return <span class="null">null</span>;
  const text = String(cell);
  if (text.length <= CUT) return <span class="cell">{text}</span>;
  return (
    <span class={open ? "cell full" : "cell"}>
      {open ? text : `${text.slice(0, CUT)}…`}
      <button type="button" class="link more" onClick={() => setOpen(!open)}>
        {open ? "less" : `all ${text.length} chars`}
      </button>
    </span>
  );
}
