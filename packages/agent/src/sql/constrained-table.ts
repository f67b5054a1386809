import type Database from "better-sqlite3";

/** The native handle's `table()`: what better-sqlite3's own `db.table()` calls after validating its input. */
interface NativeDatabase {
  table(factory: () => readonly unknown[], name: string, eponymous: boolean): void;
}

/** better-sqlite3's "use the database's default" for a table's safeIntegers setting. */
const SAFE_INTEGERS_DEFAULT = 2;

const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`;

/**
 * Registers table `name` whose `argumentColumns` (osquery's required columns, e.g. `file.path`) receive
 * the values a query binds with `=` or `IN`, while staying ordinary columns of `select *` whose values
 * the rows set, as in osquery.
 *
 * better-sqlite3's `db.table()` cannot express that: its `parameters` become HIDDEN columns (absent from
 * `select *`) whose value is always the bound argument (NULL when unbound). So:
 *
 *   "<name>_scan"  eponymous virtual table, argument columns HIDDEN and first, registered through the
 *                  native handle with a generator that yields every column, arguments included;
 *   "<name>"       a view selecting every column in the documented order; SQLite flattens it into the
 *                  query, so `WHERE path IN (...)` on the view still reaches the virtual table's planner.
 *
 * The native call is what `db.table()` itself makes (lib/methods/table.js, better-sqlite3 12.x); the
 * engine's tests exercise it, so a change of that internal shape fails them rather than a query.
 * `rows` is called once per bound combination; an unbound argument arrives as undefined.
 */
export function defineArgumentTable(
  db: Database.Database,
  name: string,
  argumentColumns: readonly string[],
  columns: readonly string[],
  rows: (...args: (string | undefined)[]) => Iterable<unknown[]>,
): void {
  const native = nativeOf(db);
  const others = columns.filter((c) => !argumentColumns.includes(c));
  const order = [...argumentColumns, ...others];
  const declaration = `CREATE TABLE x(${[...argumentColumns.map((c) => `${quoteIdent(c)} HIDDEN`), ...others.map(quoteIdent)].join(", ")});`;
  const positions = columns.map((c) => order.indexOf(c));
  // better-sqlite3 rejects any generator that is not a real generator function, so wrap in one.
  const generator = function* (...args: unknown[]): Generator<unknown[]> {
    for (const row of rows(...args.map((a) => (a === undefined || a === null ? undefined : String(a))))) {
      const out = new Array<unknown>(order.length);
      for (let i = 0; i < positions.length; i += 1) out[positions[i] as number] = row[i];
      yield out;
    }
  };
  const scan = `${name}_scan`;
  native.table(() => [declaration, generator, [...argumentColumns], SAFE_INTEGERS_DEFAULT, false], scan, true);
  db.exec(`CREATE VIEW ${quoteIdent(name)} AS SELECT ${columns.map(quoteIdent).join(", ")} FROM ${quoteIdent(scan)}`);
}

function nativeOf(db: Database.Database): NativeDatabase {
  for (const symbol of Object.getOwnPropertySymbols(db)) {
    const value = (db as unknown as Record<symbol, unknown>)[symbol];
    if (typeof value === "object" && value !== null && typeof (value as Partial<NativeDatabase>).table === "function") {
      return value as NativeDatabase;
    }
  }
  throw new Error("better-sqlite3's native database handle was not found; the constrained tables need it");
}
