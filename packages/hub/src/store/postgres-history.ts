import type { Pool, QueryResultRow } from "pg";
import type { AgeMark, FanoutMark, FanoutPruned, FanoutSize, HistoryStore } from "./history-store.js";

/** A mark past every row: where a walk from the newest starts. */
const NEWEST = { createdAt: Number.MAX_SAFE_INTEGER, seq: Number.MAX_SAFE_INTEGER, id: "" };

/**
 * The statements of history retention, each prepared once per connection under its key. Each reads an
 * index range in age order (migration 6) and deletes at most `limit` rows, so no statement holds row
 * locks for long. Two replicas pruning at once select the same rows; the second delete finds them gone
 * (or waits for the first one's short transaction) and deletes nothing twice.
 *
 * Deletes name their rows as `seq = ANY(ARRAY(subquery))`, not `seq IN (subquery)`: the planner may turn
 * an IN into a hash join over a scan of the whole table, while an array is probed through the primary key.
 * A fan-out's targets are taken in result_seq order: an index scan of query_audit_fanout that stops after
 * `limit` rows, where a bitmap scan would read every target of a large fan-out for each batch.
 */
const SQL = {
  auditMark: `SELECT created_at AS "createdAt", seq FROM query_audit WHERE fanout_id IS NULL AND (created_at, seq) < ($1, $2)
    ORDER BY created_at DESC, seq DESC OFFSET $3 LIMIT 1`,
  // Sequences come from the database here, but the newest row stays as in SQLite: one contract.
  pruneAudit: `DELETE FROM query_audit WHERE seq = ANY(ARRAY(
      SELECT seq FROM query_audit WHERE fanout_id IS NULL AND (created_at, seq) < ($1, $2) AND status <> 'pending'
        AND seq < (SELECT MAX(seq) FROM query_audit)
      ORDER BY created_at, seq LIMIT $3))`,
  listFanoutSizes: `SELECT id, created_at AS "createdAt", target_count AS "targetCount" FROM fanouts
    WHERE (created_at, id COLLATE "C") < ($1, $2) ORDER BY created_at DESC, id COLLATE "C" DESC LIMIT $3`,
  prunableFanouts: `SELECT id FROM fanouts WHERE (created_at, id COLLATE "C") < ($1, $2) AND finished_at IS NOT NULL
    ORDER BY created_at, id COLLATE "C" LIMIT $3`,
  pruneTargets: `DELETE FROM query_audit WHERE seq = ANY(ARRAY(
      SELECT seq FROM query_audit WHERE fanout_id = $1 AND status <> 'pending' AND seq < (SELECT MAX(seq) FROM query_audit)
        ORDER BY result_seq LIMIT $2))
    AND EXISTS (SELECT 1 FROM fanouts WHERE id = $1 AND finished_at IS NOT NULL)`,
  dropFanout: `DELETE FROM fanouts WHERE id = $1 AND finished_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM query_audit WHERE fanout_id = $1)`,
  eventMark: `SELECT seq FROM events WHERE seq < $1 ORDER BY seq DESC OFFSET $2 LIMIT 1`,
  pruneEventsThrough: `DELETE FROM events WHERE seq <= $1 AND seq < (SELECT MAX(seq) FROM events)`,
  pruneHealthSamples: `DELETE FROM agent_health_samples WHERE ctid = ANY(ARRAY(
      SELECT ctid FROM agent_health_samples WHERE at < $1 ORDER BY at LIMIT $2))`,
} as const;

/** History retention of the cluster store (see {@link HistoryStore}), on the store's pool. */
export class PostgresHistory implements HistoryStore {
  readonly #pool: Pool;

  constructor(pool: Pool) {
    this.#pool = pool;
  }

  async #query<R extends QueryResultRow>(name: keyof typeof SQL, values: unknown[]): Promise<{ rows: R[]; rowCount: number }> {
    const result = await this.#pool.query<R>({ name: `history_${name}`, text: SQL[name], values });
    return { rows: result.rows, rowCount: result.rowCount ?? 0 };
  }

  async auditMark(from: AgeMark | null, offset: number): Promise<AgeMark | undefined> {
    const { createdAt, seq } = from ?? NEWEST;
    return (await this.#query<AgeMark>("auditMark", [createdAt, seq, offset])).rows[0];
  }

  async pruneAudit(before: AgeMark, limit: number): Promise<number> {
    return (await this.#query("pruneAudit", [before.createdAt, before.seq, limit])).rowCount;
  }

  async listFanoutSizes(from: FanoutMark | null, limit: number): Promise<FanoutSize[]> {
    const { createdAt, id } = from ?? NEWEST;
    return (await this.#query<FanoutSize>("listFanoutSizes", [createdAt, id, limit])).rows;
  }

  async prunableFanouts(before: FanoutMark, limit: number): Promise<string[]> {
    return (await this.#query<{ id: string }>("prunableFanouts", [before.createdAt, before.id, limit])).rows.map((r) => r.id);
  }

  async pruneFanout(id: string, limit: number): Promise<FanoutPruned> {
    const targets = (await this.#query("pruneTargets", [id, limit])).rowCount;
    const fanout = targets < limit && (await this.#query("dropFanout", [id])).rowCount > 0;
    return { targets, fanout };
  }

  async eventMark(fromSeq: number | null, offset: number): Promise<number | undefined> {
    return (await this.#query<{ seq: number }>("eventMark", [fromSeq ?? Number.MAX_SAFE_INTEGER, offset])).rows[0]?.seq;
  }

  async pruneEventsThrough(seq: number): Promise<number> {
    return (await this.#query("pruneEventsThrough", [seq])).rowCount;
  }

  async pruneHealthSamples(before: number, limit: number): Promise<number> {
    return (await this.#query("pruneHealthSamples", [before, limit])).rowCount;
  }
}
