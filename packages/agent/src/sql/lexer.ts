/**
 * The one SQL lexer of the engine: the read-only guard and osquery's dialect rewrites read the same tokens,
 * so that a spelling one of them understands is never read differently by the other.
 *
 * Comments and whitespace are skipped. String literals are kept opaque (`select 'drop table x'` holds no
 * DROP); quoted identifiers (`"x"`, `` `x` ``, `[x]`) are unquoted, a doubled quote being an escaped quote
 * except inside [brackets], which have no escape. Unterminated strings and comments end at the text's end.
 */

/** One token with its place in the text. */
export interface Lexeme {
  kind: "word" | "dquoted" | "quoted" | "string" | "number" | "op";
  /** Lower-cased words and `quoted` identifiers; the content of strings and `dquoted` tokens as written; the operator. */
  text: string;
  start: number;
  end: number;
  /** Parenthesis depth at the token (an opening parenthesis has the outer depth). */
  depth: number;
}

const OPERATORS = ["<=", ">=", "!=", "<>", "==", "||", "<<", ">>", "->>", "->"];

/** Splits `sql` into tokens. */
export function lex(sql: string): Lexeme[] {
  const out: Lexeme[] = [];
  const n = sql.length;
  let depth = 0;
  let i = 0;
  while (i < n) {
    const c = sql[i] as string;
    if (/\s/.test(c)) {
      i += 1;
    } else if (c === "-" && sql[i + 1] === "-") {
      const end = sql.indexOf("\n", i);
      i = end === -1 ? n : end + 1;
    } else if (c === "/" && sql[i + 1] === "*") {
      const end = sql.indexOf("*/", i + 2);
      i = end === -1 ? n : end + 2;
    } else if (c === "'" || c === '"' || c === "`" || c === "[") {
      const close = c === "[" ? "]" : c;
      let j = i + 1;
      let text = "";
      while (j < n) {
        if (sql[j] === close) {
          if (close !== "]" && sql[j + 1] === close) {
            text += close;
            j += 2;
            continue;
          }
          break;
        }
        text += sql[j];
        j += 1;
      }
      const kind = c === "'" ? "string" : c === '"' ? "dquoted" : "quoted";
      out.push({ kind, text: kind === "quoted" ? text.toLowerCase() : text, start: i, end: Math.min(j + 1, n), depth });
      i = j + 1;
    } else if (/[0-9]/.test(c) || (c === "." && /[0-9]/.test(sql[i + 1] ?? ""))) {
      let j = i + 1;
      while (j < n && /[0-9a-zA-Z_.]/.test(sql[j] as string)) j += 1;
      out.push({ kind: "number", text: sql.slice(i, j), start: i, end: j, depth });
      i = j;
    } else if (/[\p{L}_$]/u.test(c) || c.charCodeAt(0) > 0x7f) {
      let j = i + 1;
      while (j < n && (/[\p{L}\p{N}_$]/u.test(sql[j] as string) || sql.charCodeAt(j) > 0x7f)) j += 1;
      out.push({ kind: "word", text: sql.slice(i, j).toLowerCase(), start: i, end: j, depth });
      i = j;
    } else {
      const op = OPERATORS.find((o) => sql.startsWith(o, i)) ?? c;
      if (op === ")") depth = Math.max(0, depth - 1);
      out.push({ kind: "op", text: op, start: i, end: i + op.length, depth });
      if (op === "(") depth += 1;
      i += op.length;
    }
  }
  return out;
}
