import type Database from "better-sqlite3";
import type { AgeMark, FanoutMark, FanoutPruned, FanoutSize, HistoryStore } from "./history-store.js";

/** A mark past every row: where a walk from the newest starts. */
const NEWEST = { createdAt: Number.MAX_SAFE_INTEGER, seq: Number.MAX_SAFE_INTEGER, id: "" };

/**
 * History retention of the embedded store (see {@link HistoryStore}). The statements run synchronously on
 * the event loop like every SQLite statement, which is why each one is bounded: a delete takes at most
 * `limit` rows found through an index range (migration 7), never a scan of the table. `INDEXED BY` pins
 * that index: `fanout_id IS NULL` also matches query_audit_fanout, which the planner may prefer on a
 * small or unanalysed table and which would sort every single-agent row to find the oldest.
 */
export class SqliteHistory implements HistoryStore {
  readonly #stmt;

  constructor(db: Database.Database) {
    this.#stmt = {
      auditMark: db.prepare(
        `SELECT created_at AS createdAt, seq FROM query_audit INDEXED BY query_audit_single_age WHERE fanout_id IS NULL AND (created_at, seq) < (@createdAt, @seq)
         ORDER BY created_at DESC, seq DESC LIMIT 1 OFFSET @offset`,
      ),
      // `seq < MAX(seq)`: the newest audit row stays, so the rowid sequence never goes back.
      pruneAudit: db.prepare(
        `DELETE FROM query_audit WHERE seq IN (
           SELECT seq FROM query_audit INDEXED BY query_audit_single_age WHERE fanout_id IS NULL AND (created_at, seq) < (@createdAt, @seq) AND status != 'pending'
             AND seq < (SELECT MAX(seq) FROM query_audit)
           ORDER BY created_at, seq LIMIT @limit)`,
      ),
      listFanoutSizes: db.prepare(
        `SELECT id, created_at AS createdAt, target_count AS targetCount FROM fanouts WHERE (created_at, id) < (@createdAt, @id)
         ORDER BY created_at DESC, id DESC LIMIT @limit`,
      ),
      prunableFanouts: db.prepare(
        `SELECT id FROM fanouts WHERE (created_at, id) < (@createdAt, @id) AND finished_at IS NOT NULL ORDER BY created_at, id LIMIT @limit`,
      ),
      pruneTargets: db.prepare(
        `DELETE FROM query_audit WHERE seq IN (
           SELECT seq FROM query_audit WHERE fanout_id = @id AND status != 'pending' AND seq < (SELECT MAX(seq) FROM query_audit)
           ORDER BY result_seq LIMIT @limit)
         AND EXISTS (SELECT 1 FROM fanouts WHERE id = @id AND finished_at IS NOT NULL)`,
      ),
      dropFanout: db.prepare(
        `DELETE FROM fanouts WHERE id = @id AND finished_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM query_audit WHERE fanout_id = @id)`,
      ),
      eventMark: db.prepare(`SELECT seq FROM events WHERE seq < ? ORDER BY seq DESC LIMIT 1 OFFSET ?`),
      pruneEventsThrough: db.prepare(`DELETE FROM events WHERE seq <= ? AND seq < (SELECT MAX(seq) FROM events)`),
      // Samples are appended in time order, so the oldest are the lowest rowids: a statement reads the first
      // `limit` rows and deletes those before the cutoff (bounded work, and no index on the time to write at
      // every flush). A batch holding a sample still kept ends the pass; a straggler goes at a later one.
      pruneHealthSamples: db.prepare(
        `DELETE FROM agent_health_samples WHERE rowid IN (
           SELECT rowid FROM (SELECT rowid, at FROM agent_health_samples ORDER BY rowid LIMIT @limit) WHERE at < @before)`,
      ),
    };
  }

  async auditMark(from: AgeMark | null, offset: number): Promise<AgeMark | undefined> {
    return this.#stmt.auditMark.get({ ...(from ?? NEWEST), offset }) as AgeMark | undefined;
  }

  async pruneAudit(before: AgeMark, limit: number): Promise<number> {
    return this.#stmt.pruneAudit.run({ createdAt: before.createdAt, seq: before.seq, limit }).changes;
  }

  async listFanoutSizes(from: FanoutMark | null, limit: number): Promise<FanoutSize[]> {
    const { createdAt, id } = from ?? NEWEST;
    return this.#stmt.listFanoutSizes.all({ createdAt, id, limit }) as FanoutSize[];
  }

  async prunableFanouts(before: FanoutMark, limit: number): Promise<string[]> {
    return (this.#stmt.prunableFanouts.all({ createdAt: before.createdAt, id: before.id, limit }) as { id: string }[]).map((r) => r.id);
  }

  async pruneFanout(id: string, limit: number): Promise<FanoutPruned> {
    const targets = this.#stmt.pruneTargets.run({ id, limit }).changes;
    const fanout = targets < limit && this.#stmt.dropFanout.run({ id }).changes > 0;
    return { targets, fanout };
  }

  async eventMark(fromSeq: number | null, offset: number): Promise<number | undefined> {
    return (this.#stmt.eventMark.get(fromSeq ?? Number.MAX_SAFE_INTEGER, offset) as { seq: number } | undefined)?.seq;
  }

  async pruneEventsThrough(seq: number): Promise<number> {
    return this.#stmt.pruneEventsThrough.run(seq).changes;
  }

  async pruneHealthSamples(before: number, limit: number): Promise<number> {
    return this.#stmt.pruneHealthSamples.run({ before, limit }).changes;
  }
}
