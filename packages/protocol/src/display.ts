/**
 * Text for people at a terminal, shared by every bin (`uplink`, `uplink-hub`, `uplink-agent`). Pure string
 * work, no `node:` imports, so a browser console could use it too.
 */

/** Renders rows as an aligned text table with a header line. */
export function renderTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd();
  return [line(headers), ...rows.map(line)].join("\n") + "\n";
}
