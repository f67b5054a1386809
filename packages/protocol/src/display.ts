/**
 * Text for people at a terminal, shared by every bin (`uplink`, `uplink-hub`, `uplink-agent`). Pure string
 * work, no `node:` imports, so a browser console could use it too.
 *
 * Everything a host sends is hostile input, and a terminal obeys what it prints: an ESC can retitle the
 * window (`ESC ] 0;…`), clear the screen (`ESC [2J`) or write the clipboard (OSC 52); a newline in a
 * hostname forges a row of `uplink agents`; a bidi override reverses what follows it. So every
 * human-readable output goes through {@link printable}; `--json` output stays exact.
 */

/**
 * Control and invisible format characters: C0 and C1 controls and DEL (`\p{Cc}`), format characters
 * (`\p{Cf}`: bidi embeddings, overrides and isolates, zero-width spaces and joiners, the BOM, tag
 * characters, soft hyphens), and the line and paragraph separators.
 */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

const SHORT_ESCAPES: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * Text safe to print on a terminal: each control or invisible format character is replaced by a visible
 * escape (`\n`, `\t`, `\x1b`, `\x9b`, `\u202e`, `\u{e0041}`); everything else, including backslashes and
 * printable Unicode, is kept as it is.
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => {
    const short = SHORT_ESCAPES[c];
    if (short !== undefined) return short;
    const code = c.codePointAt(0) as number;
    if (code <= 0xff) return `\\x${code.toString(16).padStart(2, "0")}`;
    if (code <= 0xffff) return `\\u${code.toString(16).padStart(4, "0")}`;
    return `\\u{${code.toString(16)}}`;
  });
}

/**
 * Renders rows as an aligned text table with a header line. Every header and cell goes through
 * {@link printable} first, so a cell can neither move the cursor nor add a line of its own.
 */
export function renderTable(headers: string[], rows: string[][]): string {
  const safeHeaders = headers.map(printable);
  const safeRows = rows.map((r) => r.map(printable));
  const widths = safeHeaders.map((h, i) => Math.max(h.length, ...safeRows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd();
  return [line(safeHeaders), ...safeRows.map(line)].join("\n") + "\n";
}
