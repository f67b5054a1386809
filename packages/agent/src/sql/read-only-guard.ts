import Database from "better-sqlite3";
import { CollectorError } from "../errors.js";
import { lex } from "./lexer.js";

/**
 * The first line of the read-only defence: a lexical check run before SQLite ever sees the text.
 *
 * It must run before `prepare`, not after: SQLite applies some PRAGMAs and resolves ATTACH targets
 * while compiling, so "prepare, then look at `stmt.readonly`" is too late for those. The engine adds
 * the second line after preparing (`stmt.readonly`, `stmt.reader`) and a third at run time
 * (`load_extension` is replaced by a function that refuses). Defence in depth, because each layer
 * alone has gaps: `ATTACH` and `PRAGMA x=1` both prepare as "readonly".
 *
 * Table names are judged by what SQLite resolves, not by how they are spelled: SQLite takes
 * `'pragma_optimize'` (a string in the lexer's eyes) as a table name where a table may stand, and the
 * osquery dialect makes `"…"` mean either. So {@link shadowPragmaTables} replaces, inside the engine's
 * own connection, every `pragma_*` table-valued function but the introspection ones with a table that
 * refuses: whatever spelling reaches SQLite, its name resolution lands on the refusal.
 */

/** The verdict on one query text. */
export type GuardVerdict =
  | { ok: true }
  | { ok: false; code: "read_only" | "empty_query" | "query_failed"; message: string };

/** PRAGMAs that only describe the schema or the engine; every other PRAGMA is refused, read or write. */
export const INTROSPECTION_PRAGMAS: ReadonlySet<string> = new Set([
  "table_info",
  "table_xinfo",
  "table_list",
  "index_list",
  "index_info",
  "index_xinfo",
  "foreign_key_list",
  "function_list",
  "module_list",
  "pragma_list",
  "collation_list",
  "database_list",
  "compile_options",
]);

/** Statements that write, change the connection or touch files. */
const REFUSED_STATEMENTS: ReadonlySet<string> = new Set([
  "insert", "update", "delete", "replace", "create", "drop", "alter", "attach", "detach",
  "vacuum", "reindex", "analyze", "begin", "commit", "end", "rollback", "savepoint", "release",
]);

const ALLOWED_HINT = "only SELECT, WITH … SELECT, VALUES, EXPLAIN and introspection PRAGMAs are allowed";

interface Token {
  /** Lower-cased text of a word or a quoted identifier; the character itself for punctuation. */
  text: string;
  kind: "word" | "ident" | "string" | "punct";
  /** Parenthesis depth at the token (an opening parenthesis has the outer depth). */
  depth: number;
}

/**
 * The tokens the guard reads, from the engine's one lexer: quoted identifiers of every quoting as one
 * kind (`"pragma_optimize"` is the name it spells, lower-cased as SQLite compares names), numbers as words.
 */
export function tokenize(sql: string): Token[] {
  return lex(sql).map(({ kind, text, depth }) =>
    kind === "dquoted" || kind === "quoted" ? { kind: "ident", text: text.toLowerCase(), depth }
    : kind === "number" ? { kind: "word", text, depth }
    : kind === "op" ? { kind: "punct", text, depth }
    : { kind, text, depth },
  );
}

const refuse = (message: string): GuardVerdict => ({ ok: false, code: "read_only", message });

/**
 * Decides whether `sql` may be prepared at all. Refuses (`read_only`) every statement that is not a
 * query, every PRAGMA but the introspection ones, and any mention of `load_extension` or of a
 * `pragma_*` table-valued function outside the introspection list; reports `empty_query` for text
 * without a statement and `query_failed` for more than one statement. Anything else is left to
 * SQLite, which reports syntax errors in its own words.
 */
export function checkReadOnly(sql: string): GuardVerdict {
  const tokens = tokenize(sql);
  // A trailing semicolon is fine; anything after it is a second statement.
  while (tokens.length > 0 && tokens[tokens.length - 1]?.text === ";") tokens.pop();
  if (tokens.length === 0) return { ok: false, code: "empty_query", message: "the query has no statement" };
  const verdict = checkFirstStatement(tokens);
  if (!verdict.ok) return verdict;
  // Only the first statement was classified, so a second one is refused outright (better-sqlite3 would
  // refuse it too, but after compiling the first).
  if (tokens.some((t) => t.kind === "punct" && t.text === ";")) {
    return { ok: false, code: "query_failed", message: "only one statement per query is allowed" };
  }
  return { ok: true };
}

function checkFirstStatement(tokens: Token[]): GuardVerdict {
  for (const t of tokens) {
    if (t.kind !== "word" && t.kind !== "ident") continue;
    if (t.text === "load_extension") return refuse("loading extensions is not allowed");
    if (t.text.startsWith("pragma_") && !INTROSPECTION_PRAGMAS.has(t.text.slice("pragma_".length))) {
      return refuse(`${t.text} is refused; ${ALLOWED_HINT}`);
    }
  }
  let start = 0;
  if (tokens[0]?.text === "explain") {
    start = tokens[1]?.text === "query" && tokens[2]?.text === "plan" ? 3 : 1;
  }
  const first = tokens[start];
  if (first === undefined) return { ok: true }; // a bare EXPLAIN: SQLite reports the syntax error
  if (first.kind !== "word") return { ok: true };
  if (REFUSED_STATEMENTS.has(first.text)) return refuse(`${first.text.toUpperCase()} is refused; ${ALLOWED_HINT}`);
  if (first.text === "pragma") return checkPragma(tokens.slice(start + 1));
  if (first.text === "with") {
    // The statement a WITH introduces is its first keyword outside the CTE bodies' parentheses.
    const main = tokens.slice(start + 1).find((t) => t.depth === first.depth && t.kind === "word" && isStatementWord(t.text));
    if (main !== undefined && main.text !== "select" && main.text !== "values") {
      return refuse(`WITH … ${main.text.toUpperCase()} is refused; ${ALLOWED_HINT}`);
    }
  }
  return { ok: true };
}

function isStatementWord(word: string): boolean {
  return word === "select" || word === "values" || REFUSED_STATEMENTS.has(word);
}

/** `PRAGMA [schema.]name [= value | (arg)]`: allowed only for introspection pragmas, never with `=`. */
function checkPragma(rest: Token[]): GuardVerdict {
  const nameAt = rest[1]?.text === "." ? 2 : 0;
  const name = rest[nameAt]?.text;
  if (name === undefined) return { ok: true };
  if (rest.some((t) => t.text === "=")) return refuse(`PRAGMA assignments are refused (PRAGMA ${name} = …)`);
  if (!INTROSPECTION_PRAGMAS.has(name)) {
    return refuse(`PRAGMA ${name} is refused; ${ALLOWED_HINT} (${[...INTROSPECTION_PRAGMAS].join(", ")})`);
  }
  return { ok: true };
}

/** The hidden arguments of SQLite's `pragma_*` tables: `pragma_x(arg, schema)`. */
const PRAGMA_TABLE_ARGS = ["arg", "schema"];

/**
 * Registers, on `db`, a refusing eponymous table named `pragma_<name>` for every PRAGMA that SQLite
 * exposes as a table-valued function and that is not in {@link INTROSPECTION_PRAGMAS}. SQLite looks a
 * name up among the connection's modules before it falls back to its built-in pragma tables, so every
 * spelling of the name (any quoting, any case, `main.` or `temp.` in front, with or without arguments)
 * resolves to the refusal, and the built-in, which may change the connection (`pragma_journal_mode('off')`,
 * `pragma_optimize(65538)`), is never reached. A scan of a shadow throws `read_only`; the shadows keep
 * the built-ins' column names, so a query naming columns still compiles and is refused, not misreported.
 * Must run before any statement of `db` has touched a built-in pragma table. Returns the names shadowed.
 */
export function shadowPragmaTables(db: Database.Database): string[] {
  const shadowed: string[] = [];
  // The list and the columns come from a scratch connection, so the engine's own never loads a built-in.
  const scratch = new Database(":memory:");
  try {
    const names = scratch.prepare("select name from pragma_pragma_list").pluck().all() as string[];
    for (const name of names) {
      if (INTROSPECTION_PRAGMAS.has(name)) continue;
      let columns: string[];
      try {
        // Preparing only declares the table (xConnect); nothing of the pragma runs.
        columns = scratch.prepare(`select * from "pragma_${name}"`).columns().map((c) => c.name);
      } catch {
        continue; // a pragma without a table form: SQLite itself answers "no such table"
      }
      const table = `pragma_${name}`;
      db.table(table, {
        columns: columns.length > 0 ? columns : [name],
        parameters: PRAGMA_TABLE_ARGS.filter((a) => !columns.includes(a)),
        // better-sqlite3 takes the generator's arity as more hidden parameters: keep it 0.
        rows: function* () {
          throw new CollectorError("read_only", `${table} is refused; ${ALLOWED_HINT}`);
        },
      });
      shadowed.push(table);
    }
  } finally {
    scratch.close();
  }
  return shadowed;
}
