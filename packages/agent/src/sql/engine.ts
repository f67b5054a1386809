import Database from "better-sqlite3";
import type { Cell, QueryResult } from "@uplink/protocol";
import { AgentError, CollectorError } from "../errors.js";
import { isAbsolute, join, resolve } from "node:path";
import { defineArgumentTable } from "./constrained-table.js";
import { mentionedNames, quoteAsString, rewriteConstrainedColumns, unresolvedColumn } from "./dialect.js";
import { registerOsqueryFunctions } from "./functions.js";
import { checkReadOnly, shadowPragmaTables } from "./read-only-guard.js";
import {
  isAvailable,
  NO_CONSTRAINTS,
  unavailableMessage,
  type AgentSnapshot,
  type ColumnType,
  type ScanConstraints,
  type TableContext,
  type TableDef,
  type Value,
} from "./table-def.js";

/** The setting that enables the tables exposing secrets or personal data, as refusals name it. */
export const SECRET_TABLES_SETTING = "--enable-secret-tables / UPLINK_ENABLE_SECRET_TABLES";

/** At most this many double-quoted tokens of one query are retried as string literals. */
const MAX_DQS_RETRIES = 32;

/** What one query may return and what the `agent` table shows for it. */
export interface RunOptions {
  maxRows: number;
  maxBytes: number;
  agent: AgentSnapshot;
  /**
   * SQLite's hard heap limit (`PRAGMA hard_heap_limit`), 0 or absent for none. Past it SQLite fails the
   * statement with SQLITE_NOMEM (`resource_limit`) where it keeps memory statistics; better-sqlite3's
   * build does not (SQLITE_DEFAULT_MEMSTATUS=0), so the worker pool's RSS watchdog is the bound that holds.
   */
  heapLimitBytes?: number;
  /** Directory that stands for the host's `/` when tables read host files (default `/`). */
  hostRoot?: string;
  /** Whether tables marked `secret` answer (default false: they refuse, naming the setting). */
  secretTablesEnabled?: boolean;
}

/** SQLite over live host tables, evaluated synchronously on the calling thread. */
export interface Engine {
  /**
   * Runs one read-only query and returns its rows, cut at `maxRows` rows or `maxBytes` bytes (the JSON
   * size of `rows`), with `truncated: true` when cut. Throws `CollectorError` with `read_only`,
   * `empty_query` or `query_failed` (SQLite's own message), or `internal` for a bug of ours.
   */
  run(sql: string, options: RunOptions): QueryResult;
  close(): void;
}

/** Thrown by the `load_extension` stand-in; recognised on the way out and reported as `read_only`. */
class ExtensionRefused extends Error {}

interface QueryState {
  ctx: TableContext;
  /** Rows of each table whose scan completed during this query, replayed by later scans (joins, subqueries). */
  scanned: Map<string, unknown[][]>;
  /** Literal LIKE patterns the query compares each constrained column with. */
  likes: Record<string, string[]>;
  /** Names the query text mentions; undefined when it selects `*`. */
  mentioned: Set<string> | undefined;
}

/**
 * Creates an engine over `tables` on `platform`: one in-memory SQLite database in which each table is an
 * eponymous virtual table, so a table's rows are computed only when a query scans it.
 *
 * Hardening, in order of the path a query takes: the lexical guard refuses non-queries before SQLite
 * compiles them; `stmt.readonly`/`stmt.reader` refuse what slipped through; SQLite's defensive mode is
 * on (`unsafeMode(false)`); `load_extension()` is replaced by a function that refuses; temporary
 * storage is kept in memory so no query, however large its sort, creates a file.
 */
export function createEngine(tables: readonly TableDef[], platform: NodeJS.Platform = process.platform): Engine {
  const db = new Database(":memory:");
  db.unsafeMode(false);
  db.pragma("temp_store = memory");
  shadowPragmaTables(db);
  registerOsqueryFunctions(db);
  db.function("load_extension", { varargs: true, directOnly: true }, () => {
    throw new ExtensionRefused("loading extensions is not allowed");
  });

  let state: QueryState | undefined;
  let heapLimitSet = 0;
  for (const def of tables) registerTable(db, def, platform, () => state);
  const constrainedColumns = new Set(tables.flatMap((t) => [...(t.constraints ?? []), ...(t.indexed ?? [])]));

  return {
    run(sql, options) {
      const verdict = checkReadOnly(sql);
      if (!verdict.ok) throw new CollectorError(verdict.code, verdict.message);
      const heapLimit = Math.max(0, Math.floor(options.heapLimitBytes ?? 0));
      if (heapLimit !== heapLimitSet) heapLimitSet = Number(db.pragma(`hard_heap_limit = ${heapLimit}`, { simple: true }));
      const rewrite = rewriteConstrainedColumns(sql, constrainedColumns);
      const stmt = prepareOsqueryDialect(db, rewrite.sql);
      if (!stmt.readonly) throw new CollectorError("read_only", "the statement would modify the database; only reads are allowed");
      if (!stmt.reader) throw new CollectorError("read_only", "the statement returns no rows; only queries are allowed");
      const memo = new Map<string, unknown>();
      const hostRoot = resolve(options.hostRoot ?? "/");
      state = {
        scanned: new Map(),
        likes: rewrite.likes,
        mentioned: mentionedNames(sql),
        ctx: {
          platform,
          agent: options.agent,
          secretTablesEnabled: options.secretTablesEnabled === true,
          hostPath: (absolutePath) => (hostRoot === "/" || !isAbsolute(absolutePath) ? absolutePath : join(hostRoot, absolutePath)),
          memo<T>(key: string, compute: () => T): T {
            if (!memo.has(key)) memo.set(key, compute());
            return memo.get(key) as T;
          },
        },
      };
      try {
        return collect(stmt, options);
      } catch (err) {
        throw toCollectorError(err);
      } finally {
        state = undefined;
      }
    },
    close() {
      db.close();
    },
  };
}

/**
 * Prepares `sql` with osquery's reading of double quotes: when SQLite finds no column named by a
 * double-quoted token, that token is retried as a string literal (the legacy rule osquery's SQLite keeps).
 */
function prepareOsqueryDialect(db: Database.Database, sql: string): Database.Statement {
  let text = sql;
  for (let attempt = 0; ; attempt += 1) {
    try {
      return db.prepare(text);
    } catch (err) {
      const column = err instanceof Database.SqliteError ? unresolvedColumn(err.message) : undefined;
      const retry = column === undefined || attempt >= MAX_DQS_RETRIES ? undefined : quoteAsString(text, column);
      if (retry === undefined) {
        if (err instanceof Database.SqliteError && err.message === "no query solution") {
          throw new CollectorError(
            "query_failed",
            "no query solution: two tables that need a constraint (file, hash) are joined so that neither can be bound first; bind one with `path IN (SELECT path FROM …)` instead",
          );
        }
        throw toCollectorError(err);
      }
      text = retry;
    }
  }
}

/** Refuses a scan the table cannot answer here: another platform, or secrets not enabled. */
function checkScan(def: TableDef, platform: NodeJS.Platform, q: QueryState | undefined): QueryState {
  if (!isAvailable(def, platform)) throw new CollectorError("query_failed", unavailableMessage(def, platform));
  if (q === undefined) throw new Error(`table ${def.name} scanned outside a query`);
  if (def.secret === true && !q.ctx.secretTablesEnabled) {
    throw new CollectorError(
      "query_failed",
      `table ${def.name} exposes secrets or personal data and is off on this agent; enable it with ${SECRET_TABLES_SETTING}`,
    );
  }
  return q;
}

function registerTable(db: Database.Database, def: TableDef, platform: NodeJS.Platform, current: () => QueryState | undefined): void {
  const names = def.columns.map((c) => c.name);
  const types = def.columns.map((c) => c.type);
  const toValues = (row: Readonly<Record<string, Value>>): unknown[] => names.map((name, i) => coerce(row[name], types[i] as ColumnType));
  const constraints = def.constraints ?? [];
  // Required and optional arguments alike are argument columns; only a required one fails when unbound.
  const argumentColumns = [...constraints, ...(def.indexed ?? [])];
  if (argumentColumns.length > 0) {
    defineArgumentTable(db, def.name, argumentColumns, names, function* (...args) {
      const q = checkScan(def, platform, current());
      const equals: Record<string, string | undefined> = {};
      const likes: Record<string, readonly string[]> = {};
      argumentColumns.forEach((c, i) => {
        equals[c] = args[i];
        likes[c] = q.likes[c] ?? [];
      });
      const scan: ScanConstraints = q.mentioned === undefined ? { equals, likes } : { equals, likes, mentioned: q.mentioned };
      if (constraints.length > 0 && constraints.every((c) => equals[c] === undefined && (likes[c]?.length ?? 0) === 0)) {
        throw new CollectorError("query_failed", `${def.name} requires a constraint on ${constraints.join(" or ")} (=, IN or LIKE)`);
      }
      for (const row of def.rows(q.ctx, scan)) yield toValues(row);
    });
    return;
  }
  db.table(def.name, {
    columns: names,
    // better-sqlite3 requires a generator function and infers hidden parameters from its arity: keep it 0.
    rows: function* () {
      const q = checkScan(def, platform, current());
      const done = q.scanned.get(def.name);
      if (done !== undefined) {
        yield* done;
        return;
      }
      const rows: unknown[][] = [];
      const scan: ScanConstraints = q.mentioned === undefined ? NO_CONSTRAINTS : { ...NO_CONSTRAINTS, mentioned: q.mentioned };
      for (const row of def.rows(q.ctx, scan)) {
        const values = toValues(row);
        rows.push(values);
        yield values;
      }
      // Only a complete scan is replayed; a scan cut short by LIMIT leaves the next scan to read afresh.
      q.scanned.set(def.name, rows);
    },
  });
}

/** Coerces a table's value to its column's type; SQLite sees integers as BigInt, which it stores as INTEGER. */
function coerce(v: Value, type: ColumnType): unknown {
  if (v === null || v === undefined) return null;
  switch (type) {
    case "INTEGER":
      if (typeof v === "bigint") return v;
      if (typeof v === "boolean") return v ? 1n : 0n;
      if (typeof v === "number") return Number.isFinite(v) ? BigInt(Math.trunc(v)) : null;
      return /^-?\d+$/.test(v) ? BigInt(v) : null;
    case "REAL":
      return typeof v === "string" ? (Number.isFinite(Number(v)) ? Number(v) : null) : Number(v);
    case "TEXT":
      return String(v);
  }
}

/** Iterates the statement row by row, stopping at the caps instead of materialising everything. */
function collect(stmt: Database.Statement, { maxRows, maxBytes }: RunOptions): QueryResult {
  stmt.raw(true).safeIntegers(true);
  const columns = stmt.columns().map((c) => c.name);
  const rows: Cell[][] = [];
  let bytes = 2; // "[]"
  let truncated = false;
  for (const raw of stmt.iterate() as IterableIterator<unknown[]>) {
    if (rows.length >= maxRows) {
      truncated = true;
      break;
    }
    const row = raw.map(toCell);
    const size = Buffer.byteLength(JSON.stringify(row)) + (rows.length > 0 ? 1 : 0);
    if (bytes + size > maxBytes) {
      truncated = true;
      break;
    }
    bytes += size;
    rows.push(row);
  }
  return { columns, rows, rowCount: rows.length, truncated };
}

/**
 * A SQLite value as a JSON cell: integers within ±2^53 as numbers and beyond as decimal strings (never a
 * silently rounded number), ±Infinity as strings, BLOBs as lower-case hex strings.
 */
export function toCell(v: unknown): Cell {
  if (v === null || typeof v === "string") return v;
  if (typeof v === "bigint") return v >= Number.MIN_SAFE_INTEGER && v <= Number.MAX_SAFE_INTEGER ? Number(v) : v.toString();
  if (typeof v === "number") return Number.isFinite(v) ? v : String(v);
  if (Buffer.isBuffer(v)) return v.toString("hex");
  return String(v);
}

function toCollectorError(err: unknown): AgentError {
  if (err instanceof AgentError) return err;
  if (err instanceof ExtensionRefused) return new CollectorError("read_only", err.message);
  if (err instanceof Database.SqliteError) {
    // Out of memory under the heap limit, or a string or blob past SQLITE_MAX_LENGTH: a bound, not a bad query.
    if (err.code === "SQLITE_NOMEM" || err.code === "SQLITE_TOOBIG") {
      return new CollectorError("resource_limit", `the query went past a memory bound: ${err.message}`, { cause: err });
    }
    return new CollectorError("query_failed", err.message, { cause: err });
  }
  // better-sqlite3 reports statement-shape problems as RangeError/TypeError before SQLite runs.
  if (err instanceof RangeError) return new CollectorError("query_failed", err.message, { cause: err });
  return new CollectorError("internal", err instanceof Error ? err.message : String(err), { cause: err });
}
