import { lex, type Lexeme } from "./lexer.js";

/**
 * osquery's SQL dialect on top of better-sqlite3's SQLite, as text rewrites made before `prepare`:
 *
 * - **Double-quoted literals.** osquery's SQLite keeps the legacy rule that `"x"` naming no column is the
 *   string `'x'`; better-sqlite3 builds SQLite without it (SQLITE_DQS=0), so `WHERE address = "0.0.0.0"`
 *   fails with `no such column`. The engine retries such a failure with that one token single-quoted
 *   ({@link quoteAsString}): exactly the legacy rule, decided by SQLite's own name resolution.
 * - **Constrained columns.** A table that needs a constraint (`file`, `hash`) takes `path`/`directory`
 *   as virtual-table arguments, which better-sqlite3 only accepts through `=`/`IN`; any other comparison
 *   (`LIKE`, `<>`, `IS`, …) would fail to plan. {@link rewriteConstrainedColumns} prefixes such an operand
 *   with unary `+`, which SQLite evaluates as a plain filter, and collects the literal `LIKE` patterns so
 *   the table can expand them (osquery's `%` and `%%`).
 */

/**
 * Rewrites the first double-quoted token `"name"` that SQLite could not resolve as a column into the
 * string literal `'name'`; returns undefined when the text has no such token (then the error stands).
 */
export function quoteAsString(sql: string, name: string): string | undefined {
  const token = lex(sql).find((t) => t.kind === "dquoted" && t.text === name);
  if (token === undefined) return undefined;
  return `${sql.slice(0, token.start)}'${token.text.replaceAll("'", "''")}'${sql.slice(token.end)}`;
}

/** The column SQLite named in `no such column: X` (newer versions quote it and add a hint). */
export function unresolvedColumn(message: string): string | undefined {
  const m = /^no such column: (?:"((?:[^"]|"")*)"|(\S+))/.exec(message);
  if (m === null) return undefined;
  return m[1] !== undefined ? m[1].replaceAll('""', '"') : m[2];
}

/** Comparisons SQLite would hand to a virtual table's planner that better-sqlite3 refuses for an argument column. */
const NON_EQ_AFTER = new Set(["like", "glob", "regexp", "match", "not", "is", "isnull", "notnull", "between", "<", ">", "<=", ">=", "!=", "<>"]);
const NON_EQ_BEFORE = new Set(["<", ">", "<=", ">=", "!=", "<>", "is", "like", "glob", "regexp", "match"]);

/**
 * The identifiers `sql` mentions (lower-cased), or undefined when it selects `*` or `t.*` and so may read
 * any column. Over-approximates (a word is kept wherever it appears), which is what laziness needs.
 */
export function mentionedNames(sql: string): Set<string> | undefined {
  const tokens = lex(sql);
  const names = new Set<string>();
  for (let i = 0; i < tokens.length; i += 1) {
    const t = tokens[i] as Lexeme;
    if (t.kind === "op" && t.text === "*") {
      const before = tokens[i - 1];
      if (before === undefined || before.text === "select" || before.text === "," || before.text === "." || before.text === "distinct" || before.text === "all") return undefined;
    }
    // NATURAL JOIN compares columns it never names.
    if (t.kind === "word" && t.text === "natural") return undefined;
    if (t.kind === "word" || t.kind === "quoted") names.add(t.text);
    if (t.kind === "dquoted") names.add(t.text.toLowerCase());
  }
  return names;
}

/** What {@link rewriteConstrainedColumns} returns: the SQL to prepare and the LIKE patterns it found per column. */
export interface ConstrainedRewrite {
  sql: string;
  likes: Record<string, string[]>;
}

/**
 * Prefixes with `+` every operand `[qualifier.]column` of `columns` compared by anything but `=`/`IN`,
 * and collects the string literals compared to them with `LIKE`. Harmless for a table whose column of
 * that name is an ordinary one (`processes.path`): `+x` is `x`.
 */
export function rewriteConstrainedColumns(sql: string, columns: ReadonlySet<string>): ConstrainedRewrite {
  const tokens = lex(sql);
  const likes: Record<string, string[]> = {};
  const inserts: number[] = [];
  for (let i = 0; i < tokens.length; i += 1) {
    const t = tokens[i] as Lexeme;
    if ((t.kind !== "word" && t.kind !== "dquoted" && t.kind !== "quoted") || !columns.has(t.text.toLowerCase())) continue;
    // Not a column when it names a function or a table-qualified prefix (`path.x`).
    const next = tokens[i + 1];
    if (next?.text === "(" || next?.text === ".") continue;
    let first = i;
    if (tokens[i - 1]?.text === "." && tokens[i - 2] !== undefined) first = i - 2;
    const before = tokens[first - 1];
    const column = t.text.toLowerCase();
    const after = next?.kind === "op" || next?.kind === "word" ? next.text : undefined;
    const flagged = (after !== undefined && NON_EQ_AFTER.has(after)) || (before !== undefined && (before.kind === "op" || before.kind === "word") && NON_EQ_BEFORE.has(before.text));
    if (!flagged) continue;
    inserts.push((tokens[first] as Lexeme).start);
    const literal = tokens[i + 2];
    if (after === "like" && literal?.kind === "string") (likes[column] ??= []).push(literal.text);
  }
  if (inserts.length === 0) return { sql, likes };
  let out = "";
  let at = 0;
  for (const pos of inserts) {
    out += `${sql.slice(at, pos)}+`;
    at = pos;
  }
  return { sql: out + sql.slice(at), likes };
}
