import type { AgentInfo } from "./agent-info.js";

/** SQLite storage class a column holds. Virtual tables cannot declare types, so the engine coerces to these. */
export type ColumnType = "INTEGER" | "TEXT" | "REAL";

/** One column of a host table: the name SQL uses, its type and what it means (shown by `tables` and the docs). */
export interface ColumnDef {
  readonly name: string;
  readonly type: ColumnType;
  readonly description?: string;
  /**
   * How this column differs from osquery's column of the same name (units, source, values), or
   * `"uplink"` for a column osquery does not have. Absent means it matches osquery's spec on Linux.
   */
  readonly note?: string;
}

/** A value a table yields; the engine coerces it to the column's declared type (null stays null). */
export type Value = string | number | bigint | boolean | null | undefined;

/** What the agent table shows: the snapshot the main thread passes with each query, plus its pid. */
export interface AgentSnapshot extends AgentInfo {
  /** The pid of the agent's main process (queries run in a separate worker process). */
  readonly pid: number;
}

/** What a table's `rows` gets for one query. */
export interface TableContext {
  readonly platform: NodeJS.Platform;
  readonly agent: AgentSnapshot;
  /**
   * Where a host file lives for this agent: `absolutePath` under the host-root setting (`--host-root` /
   * `UPLINK_HOST_ROOT`, default `/`). Tables read /etc, /home, /var, ... through it so that a test or a
   * container-mounted host can move them; /proc and /sys are read directly.
   */
  hostPath(absolutePath: string): string;
  /** True when the agent enabled the tables that expose secrets or personal data (`--enable-secret-tables`). */
  readonly secretTablesEnabled?: boolean;
  /**
   * Returns the value computed once for this query under `key` (e.g. the uid → user name map), so that
   * several tables, or several scans of one table, share it and see one consistent view.
   */
  memo<T>(key: string, compute: () => T): T;
}

/**
 * What a scan of a table that needs a constraint (`TableDef.constraints`) received: the value each
 * constrained column was bound to by `=` or `IN` (undefined when not), and the literal patterns the
 * query compares that column with `LIKE` (osquery's `%` one path segment, `%%` any depth).
 */
export interface ScanConstraints {
  readonly equals: Readonly<Record<string, string | undefined>>;
  readonly likes: Readonly<Record<string, readonly string[]>>;
  /**
   * The column names the query text mentions, or undefined when it may read every column (`*`). A table
   * may skip computing a costly column that is not in it (its value is then null): "only what a query
   * reads is computed".
   */
  readonly mentioned?: ReadonlySet<string>;
}

/** True when a scan may read `column`: the query selects `*` or names it. */
export function wants(scan: ScanConstraints, column: string): boolean {
  return scan.mentioned === undefined || scan.mentioned.has(column);
}

/** No constraint: what a table without `constraints` is scanned with. */
export const NO_CONSTRAINTS: ScanConstraints = Object.freeze({ equals: Object.freeze({}), likes: Object.freeze({}) });

/**
 * A host table, data first: `tables`, the docs and the engine all read the same definition.
 * `rows` runs only when a query reads the table, and only on a listed platform (all when `platforms` is absent).
 */
export interface TableDef<Name extends string = string> {
  readonly name: string;
  /** One line: what a row is and where it comes from. */
  readonly description: string;
  readonly columns: readonly ColumnDef[];
  readonly platforms?: readonly NodeJS.Platform[];
  /** Why the table is platform-bound, completing "not available on <platform>: ..." (e.g. "it reads /proc"). */
  readonly platformNote?: string;
  /**
   * Columns a query must constrain with `=`, `IN` or `LIKE` (at least one of them), as osquery's
   * `required=True` columns (`file`, `hash`); `rows` gets the bound values. Default: none.
   */
  readonly constraints?: readonly string[];
  /**
   * Columns a query may bind with `=` or `IN` to narrow what the table reads (osquery's optional
   * `index=True` columns that an API takes as an argument, e.g. a container id); `rows` gets the bound
   * values in `scan.equals`, undefined when unbound, and then reads everything. Default: none.
   */
  readonly indexed?: readonly string[];
  /** True for a table exposing secrets or personal data: refused unless secret tables are enabled. Default false. */
  readonly secret?: boolean;
  /** How the table as a whole differs from osquery's, or `"uplink"` for a table osquery lacks. Absent: matches. */
  readonly note?: string;
  rows(ctx: TableContext, scan: ScanConstraints): Iterable<Readonly<Record<Name, Value>>>;
}

/**
 * Declares a table with column names checked at compile time: every row must carry exactly the
 * declared columns, so a typo in a column name or a forgotten column fails the build, not a query.
 */
export function defineTable<const Columns extends readonly ColumnDef[]>(def: {
  name: string;
  description: string;
  columns: Columns;
  platforms?: readonly NodeJS.Platform[];
  platformNote?: string;
  constraints?: readonly Columns[number]["name"][];
  indexed?: readonly Columns[number]["name"][];
  secret?: boolean;
  note?: string;
  rows(ctx: TableContext, scan: ScanConstraints): Iterable<Readonly<Record<Columns[number]["name"], Value>>>;
}): TableDef<Columns[number]["name"]> {
  return def;
}

/** A table as `tables()`, the `tables` command and the docs present it. */
export interface TableInfo {
  name: string;
  description: string;
  columns: ColumnDef[];
  /** Platforms it answers on; absent means every platform. */
  platforms?: NodeJS.Platform[];
  /** Whether it answers on the platform that asked. */
  available: boolean;
  /** Columns a query must constrain (one of them); absent when none. */
  constraints?: string[];
  /** True when it answers only with secret tables enabled. */
  secret?: boolean;
}

/** True when `def` answers on `platform`. */
export function isAvailable(def: TableDef, platform: NodeJS.Platform): boolean {
  return def.platforms === undefined || def.platforms.includes(platform);
}

/** The message a query gets when it reads a table its platform cannot provide. */
export function unavailableMessage(def: TableDef, platform: NodeJS.Platform): string {
  const where = def.platforms === undefined ? "" : ` (only on ${def.platforms.join(", ")})`;
  const why = def.platformNote === undefined ? "" : `: ${def.platformNote}`;
  return `table ${def.name} is not available on ${platform}${where}${why}`;
}

/** Describes `def` for `platform`, copying arrays so callers cannot mutate the definitions. */
export function describeTable(def: TableDef, platform: NodeJS.Platform): TableInfo {
  const info: TableInfo = {
    name: def.name,
    description: def.description,
    columns: def.columns.map((c) => ({ ...c })),
    available: isAvailable(def, platform),
  };
  if (def.platforms !== undefined) info.platforms = [...def.platforms];
  if (def.constraints !== undefined) info.constraints = [...def.constraints];
  if (def.secret === true) info.secret = true;
  return info;
}
