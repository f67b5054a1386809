import { Pool, TypeOverrides, types, type PoolClient } from "pg";
import { POSTGRES_MIGRATIONS } from "./postgres-migrations.js";
import { MIGRATION_LOCK } from "./postgres-statements.js";

/** Connections each hub replica keeps to PostgreSQL at most. */
export const DEFAULT_POOL_SIZE = 10;
/** How long opening a connection may take before the call that needed it fails. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
/**
 * How long one statement may go unanswered before it fails and its connection is discarded. Without it, a
 * connection whose packets are silently dropped (a partition, not a reset) would hang its caller for good.
 */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 5_000;

/** Options of {@link PostgresStore.open}; each has a working default. */
export interface PostgresStoreOptions {
  /**
   * Schema holding the tables, created if missing; every connection's `search_path` is set to it.
   * A plain lower-case identifier. Default: the server's `search_path` (usually `public`).
   */
  schema?: string;
  /** Maximum connections in the pool. Default {@link DEFAULT_POOL_SIZE}. */
  poolSize?: number;
  /** Connection timeout; bounds how long `ready()` waits on an unreachable server. Default {@link DEFAULT_CONNECT_TIMEOUT_MS}. */
  connectTimeoutMs?: number;
  /** Client-side bound on each statement (see {@link DEFAULT_STATEMENT_TIMEOUT_MS}). */
  statementTimeoutMs?: number;
}

/** Unquoted everywhere (CREATE SCHEMA, the `options` startup parameter), so nothing else is allowed. */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * A pool of connections to `url` (a `postgres://` connection string), with `opts.schema` created if given
 * and the pending migrations applied, exactly once however many replicas open the same schema at the same
 * moment. Rejects if the server cannot be reached or a migration fails; the pool is then closed.
 */
export async function openPool(url: string, opts: PostgresStoreOptions): Promise<Pool> {
  const { schema } = opts;
  if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
    throw new RangeError(`schema must be a lower-case identifier (${SCHEMA_NAME.source}), got ${JSON.stringify(schema)}`);
  }
  const pool = new Pool({
    connectionString: url,
    max: opts.poolSize ?? DEFAULT_POOL_SIZE,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    query_timeout: opts.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS,
    types: int8AsNumber(),
    ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }),
  });
  // An idle connection that dies (server restart, network cut) is reported here, and an unhandled
  // 'error' event would crash the hub. The pool has dropped it already; the next query reconnects,
  // and ready() is how the outage shows.
  pool.on("error", () => {});
  try {
    await migrate(pool, schema);
  } catch (err) {
    await pool.end();
    throw err;
  }
  return pool;
}

/**
 * Parses int8 into a JS number on this pool only (pg's default is a string, and changing `types` globally
 * would change it for every other pg user in the process). Epoch-ms times and seqs stay far below 2^53;
 * one that does not is an error, not a silently rounded value.
 */
function int8AsNumber(): TypeOverrides {
  const overrides = new TypeOverrides();
  overrides.setTypeParser(types.builtins.INT8, "text", (text: string) => {
    const n = Number(text);
    if (!Number.isSafeInteger(n)) throw new RangeError(`BIGINT ${text} does not fit a JS number`);
    return n;
  });
  return overrides;
}

/** Runs `work` in a transaction on one connection; resolves after COMMIT, rolls back if anything throws. */
export async function withTransaction<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // A checked-out client has no pool listener: when its connection dies mid-transaction it fails the
  // statement AND emits 'error', which unhandled would crash the hub. The failed statement says enough.
  const ignore = (): void => {};
  client.on("error", ignore);
  const release = (err?: Error): void => {
    client.off("error", ignore);
    client.release(err);
  };
  try {
    await client.query("BEGIN");
    const result = await work(client);
    await client.query("COMMIT");
    release();
    return result;
  } catch (err) {
    // A connection whose ROLLBACK fails is in an unknown state: destroy it rather than pool it.
    await client.query("ROLLBACK").then(
      () => release(),
      (rollbackErr: Error) => release(rollbackErr),
    );
    throw err;
  }
}

/**
 *   replica A                          replica B
 *   BEGIN; lock(migrate, schema)       BEGIN; lock(migrate, schema)  -- waits for A's commit
 *   create schema, schema_migrations
 *   apply 1..N, record each
 *   COMMIT (lock released)  ────────►  sees version N: applies nothing; COMMIT
 *
 * A database migrated by a newer release (version above ours) is left alone, so rolling upgrades work.
 */
async function migrate(pool: Pool, schema: string | undefined): Promise<void> {
  await withTransaction(pool, async (client) => {
    await client.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK}, hashtext($1))`, [schema ?? ""]);
    // Inside the lock: concurrent `CREATE SCHEMA IF NOT EXISTS` can still fail on a unique violation.
    if (schema !== undefined) await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`);
    const { rows } = await client.query<{ version: number }>(`SELECT COALESCE(MAX(version), 0) AS version FROM schema_migrations`);
    for (let v = rows[0]!.version; v < POSTGRES_MIGRATIONS.length; v++) {
      await client.query(POSTGRES_MIGRATIONS[v]!);
      await client.query(`INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, [v + 1, Date.now()]);
    }
  });
}
