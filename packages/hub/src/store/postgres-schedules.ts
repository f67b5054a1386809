import type { PolicyState } from "@uplink/protocol";
import type { Pool } from "pg";
import { withTransaction } from "./postgres-pool.js";
import {
  emptyCounts,
  resetsBase,
  type NewScheduleRun,
  type PolicyChangeRecord,
  type PolicyHostRecord,
  type ResultRow,
  type RunFinish,
  type RunKey,
  type RunPage,
  type ScheduleChange,
  type ScheduleKind,
  type ScheduleRecord,
  type ScheduleRunRecord,
  type ScheduleStore,
} from "./schedule-store.js";

// Select lists aliased to the records' field names (as postgres-statements.ts does).
const SCHEDULE = `id, kind, name, query, collector, interval_ms AS "intervalMs", targets, mode, timeout_ms AS "timeoutMs", enabled,
  created_at AS "createdAt", updated_at AS "updatedAt"`;
const RUN = `seq, schedule_id AS "scheduleId", agent_id AS "agentId", slot, correlation_id AS "correlationId", owner, status, snapshot,
  added, removed, rows, error_code AS "errorCode", error_message AS "errorMessage", created_at AS "createdAt", finished_at AS "finishedAt"`;
const HOST = `policy_id AS "policyId", agent_id AS "agentId", state, reason, since, checked_at AS "checkedAt"`;
/** Columns a PATCH may set, by field, with the cast of its parameter. */
const CHANGE_COLUMNS: Record<keyof ScheduleChange, [string, string]> = {
  name: ["name", ""], query: ["query", ""], collector: ["collector", ""], intervalMs: ["interval_ms", ""], targets: ["targets", "::jsonb"],
  mode: ["mode", ""], timeoutMs: ["timeout_ms", ""], enabled: ["enabled", ""], updatedAt: ["updated_at", ""],
};
const rowsJson = (rows: ResultRow[] | null): string | null => (rows === null ? null : JSON.stringify(rows));

/** The cluster store's schedules (see ScheduleStore): each method one statement or one transaction. */
export class PostgresSchedules implements ScheduleStore {
  constructor(private readonly pool: Pool) {}

  async createSchedule(s: ScheduleRecord): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `INSERT INTO schedules (id, kind, name, query, collector, interval_ms, targets, mode, timeout_ms, enabled, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11, $12) ON CONFLICT (kind, name) DO NOTHING`,
      [s.id, s.kind, s.name, s.query, s.collector, s.intervalMs, JSON.stringify(s.targets), s.mode, s.timeoutMs, s.enabled, s.createdAt, s.updatedAt],
    );
    return (rowCount ?? 0) > 0;
  }

  async updateSchedule(id: string, change: ScheduleChange): Promise<ScheduleRecord | undefined | "name_taken"> {
    const values: unknown[] = [id];
    const sets = (Object.keys(change) as (keyof ScheduleChange)[])
      .filter((k) => change[k] !== undefined)
      .map((k) => {
        const [column, cast] = CHANGE_COLUMNS[k];
        const v = change[k];
        return `${column} = $${values.push(k === "targets" ? JSON.stringify(v) : v)}${cast}`;
      });
    try {
      return await withTransaction(this.pool, async (client) => {
        const before = (await client.query<ScheduleRecord>(`SELECT ${SCHEDULE} FROM schedules WHERE id = $1 FOR UPDATE`, [id])).rows[0];
        if (before === undefined) return undefined;
        const updated = (await client.query<ScheduleRecord>(`UPDATE schedules SET ${sets.join(", ")} WHERE id = $1 RETURNING ${SCHEDULE}`, values)).rows[0]!;
        if (resetsBase(before, updated)) await client.query("UPDATE schedule_agents SET base_rows = NULL WHERE schedule_id = $1", [id]);
        return updated;
      });
    } catch (err) {
      if ((err as { code?: string }).code === "23505") return "name_taken";
      throw err;
    }
  }

  async deleteSchedule(id: string): Promise<boolean> {
    return withTransaction(this.pool, async (client) => {
      const { rowCount } = await client.query("DELETE FROM schedules WHERE id = $1", [id]);
      if ((rowCount ?? 0) === 0) return false;
      await client.query("DELETE FROM schedule_agents WHERE schedule_id = $1", [id]);
      await client.query("DELETE FROM policy_hosts WHERE policy_id = $1", [id]);
      return true;
    });
  }

  async findSchedule(id: string): Promise<ScheduleRecord | undefined> {
    return (await this.pool.query<ScheduleRecord>(`SELECT ${SCHEDULE} FROM schedules WHERE id = $1`, [id])).rows[0];
  }

  async listSchedules(kind?: ScheduleKind): Promise<ScheduleRecord[]> {
    const text = `SELECT ${SCHEDULE} FROM schedules WHERE $1::text IS NULL OR kind = $1 ORDER BY name COLLATE "C", id COLLATE "C"`;
    return (await this.pool.query<ScheduleRecord>(text, [kind ?? null])).rows;
  }

  async listCursors(scheduleId: string, sinceSlot: number): Promise<Map<string, number>> {
    const { rows } = await this.pool.query<{ agentId: string; slot: number }>(`SELECT agent_id AS "agentId", last_slot AS slot FROM schedule_agents WHERE schedule_id = $1 AND last_slot >= $2`, [scheduleId, sinceSlot]);
    return new Map(rows.map((r) => [r.agentId, r.slot]));
  }

  /** One statement: the insert (or the takeover of another owner's pending claim) and the cursor move. */
  async claimRun(r: NewScheduleRun, takeOver = false): Promise<boolean> {
    const { rows } = await this.pool.query<{ claimed: boolean }>(
      `WITH inserted AS (
         INSERT INTO schedule_runs (schedule_id, agent_id, slot, correlation_id, owner, status, created_at)
         SELECT $1, $2, $3, $4, $5, 'pending', $6 WHERE EXISTS (SELECT 1 FROM schedules WHERE id = $1 AND enabled)
         ON CONFLICT (schedule_id, agent_id, slot) DO NOTHING RETURNING 1
       ), taken AS (
         UPDATE schedule_runs SET correlation_id = $4, owner = $5
         WHERE $7 AND schedule_id = $1 AND agent_id = $2 AND slot = $3 AND status = 'pending' AND owner <> $5 AND NOT EXISTS (SELECT 1 FROM inserted)
           AND EXISTS (SELECT 1 FROM schedules WHERE id = $1 AND enabled)
         RETURNING 1
       ), cursor AS (
         INSERT INTO schedule_agents (schedule_id, agent_id, last_slot)
         SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM inserted) OR EXISTS (SELECT 1 FROM taken)
         ON CONFLICT (schedule_id, agent_id) DO UPDATE SET last_slot = GREATEST(schedule_agents.last_slot, excluded.last_slot)
       )
       SELECT EXISTS (SELECT 1 FROM inserted) OR EXISTS (SELECT 1 FROM taken) AS claimed`,
      [r.scheduleId, r.agentId, r.slot, r.correlationId, r.owner, r.createdAt, takeOver],
    );
    return rows[0]!.claimed;
  }

  async openRuns(owner: string, limit: number): Promise<ScheduleRunRecord[]> {
    return (await this.pool.query<ScheduleRunRecord>(`SELECT ${RUN} FROM schedule_runs WHERE status = 'pending' AND owner <> $1 ORDER BY seq LIMIT $2`, [owner, limit])).rows;
  }

  async baseRows(scheduleId: string, agentId: string): Promise<ResultRow[] | null> {
    const { rows } = await this.pool.query<{ base: ResultRow[] | null }>(`SELECT base_rows AS base FROM schedule_agents WHERE schedule_id = $1 AND agent_id = $2`, [scheduleId, agentId]);
    return rows[0]?.base ?? null;
  }

  async finishRun({ scheduleId, correlationId }: RunKey, f: RunFinish): Promise<boolean> {
    const { rows } = await this.pool.query<{ ended: boolean }>(
      `WITH ended AS (
         UPDATE schedule_runs SET status = $3, snapshot = $4, added = $5::json, removed = $6::json, rows = $7::json, error_code = $8, error_message = $9, finished_at = $10
         WHERE schedule_id = $1 AND correlation_id = $2 AND status = 'pending' RETURNING agent_id
       ), based AS (
         UPDATE schedule_agents a SET base_rows = $11::json FROM ended WHERE $11::text IS NOT NULL AND a.schedule_id = $1 AND a.agent_id = ended.agent_id
       )
       SELECT EXISTS (SELECT 1 FROM ended) AS ended`,
      [scheduleId, correlationId, f.status, f.snapshot, rowsJson(f.added), rowsJson(f.removed), rowsJson(f.rows), f.errorCode, f.errorMessage, f.finishedAt, f.base === undefined ? null : JSON.stringify(f.base)],
    );
    return rows[0]!.ended;
  }

  async listRuns(scheduleId: string, page: RunPage): Promise<ScheduleRunRecord[]> {
    const text = `SELECT ${RUN} FROM schedule_runs WHERE schedule_id = $1 AND ($2::text IS NULL OR agent_id = $2) AND ($3::bigint IS NULL OR seq < $3) ORDER BY seq DESC LIMIT $4`;
    return (await this.pool.query<ScheduleRunRecord>(text, [scheduleId, page.agentId ?? null, page.before ?? null, page.limit])).rows;
  }

  /** One transaction; the row lock (FOR UPDATE) orders two checks of the same host. */
  async setPolicyHost(h: Omit<PolicyHostRecord, "since">): Promise<{ from: PolicyState | null } | undefined> {
    return withTransaction(this.pool, async (client) => {
      const current = (await client.query<{ state: PolicyState }>("SELECT state FROM policy_hosts WHERE policy_id = $1 AND agent_id = $2 FOR UPDATE", [h.policyId, h.agentId])).rows[0];
      const from = current?.state ?? null;
      if (from === h.state) {
        await client.query("UPDATE policy_hosts SET checked_at = $3, reason = $4 WHERE policy_id = $1 AND agent_id = $2", [h.policyId, h.agentId, h.checkedAt, h.reason]);
        return undefined;
      }
      await client.query(
        `INSERT INTO policy_hosts (policy_id, agent_id, state, reason, since, checked_at) VALUES ($1, $2, $3, $4, $5, $5)
         ON CONFLICT (policy_id, agent_id) DO UPDATE SET state = excluded.state, reason = excluded.reason, since = excluded.since, checked_at = excluded.checked_at`,
        [h.policyId, h.agentId, h.state, h.reason, h.checkedAt],
      );
      await client.query("INSERT INTO policy_changes (policy_id, agent_id, from_state, to_state, reason, at) VALUES ($1, $2, $3, $4, $5, $6)", [h.policyId, h.agentId, from, h.state, h.reason, h.checkedAt]);
      return { from };
    });
  }

  async listPolicyHosts(policyId: string, state?: PolicyState): Promise<PolicyHostRecord[]> {
    const text = `SELECT ${HOST} FROM policy_hosts WHERE policy_id = $1 AND ($2::text IS NULL OR state = $2) ORDER BY agent_id COLLATE "C"`;
    return (await this.pool.query<PolicyHostRecord>(text, [policyId, state ?? null])).rows;
  }

  async policyCounts(): Promise<Map<string, Record<PolicyState, number>>> {
    const { rows } = await this.pool.query<{ policyId: string; state: PolicyState; n: number }>(`SELECT policy_id AS "policyId", state, COUNT(*)::int AS n FROM policy_hosts GROUP BY policy_id, state`);
    const out = new Map<string, Record<PolicyState, number>>();
    for (const r of rows) {
      const counts = out.get(r.policyId) ?? emptyCounts();
      counts[r.state] = r.n;
      out.set(r.policyId, counts);
    }
    return out;
  }

  async listPolicyChanges(policyId: string, limit: number): Promise<PolicyChangeRecord[]> {
    const text = `SELECT seq, policy_id AS "policyId", agent_id AS "agentId", from_state AS "from", to_state AS "to", reason, at FROM policy_changes WHERE policy_id = $1 ORDER BY seq DESC LIMIT $2`;
    return (await this.pool.query<PolicyChangeRecord>(text, [policyId, limit])).rows;
  }

  async runMark(fromSeq: number | null, offset: number): Promise<number | undefined> {
    const text = "SELECT seq FROM schedule_runs WHERE $1::bigint IS NULL OR seq < $1 ORDER BY seq DESC LIMIT 1 OFFSET $2";
    return (await this.pool.query<{ seq: number }>(text, [fromSeq, offset])).rows[0]?.seq;
  }

  async pruneRuns(beforeSeq: number | null, beforeAt: number | null, limit: number): Promise<number> {
    let n = 0;
    if (beforeSeq !== null || beforeAt !== null) {
      n += (
        await this.pool.query(
          `DELETE FROM schedule_runs WHERE seq IN (SELECT seq FROM schedule_runs WHERE status <> 'pending'
             AND (($1::bigint IS NOT NULL AND seq < $1) OR ($2::bigint IS NOT NULL AND created_at < $2)) ORDER BY seq LIMIT $3)`,
          [beforeSeq, beforeAt, limit],
        )
      ).rowCount ?? 0;
    }
    if (n < limit) {
      const orphans = `DELETE FROM schedule_runs WHERE seq IN (SELECT r.seq FROM schedule_runs r WHERE NOT EXISTS (SELECT 1 FROM schedules s WHERE s.id = r.schedule_id) LIMIT $1)`;
      n += (await this.pool.query(orphans, [limit - n])).rowCount ?? 0;
    }
    if (n < limit) {
      const changes = `DELETE FROM policy_changes WHERE seq IN (SELECT c.seq FROM policy_changes c WHERE ($1::bigint IS NOT NULL AND c.at < $1)
        OR NOT EXISTS (SELECT 1 FROM schedules s WHERE s.id = c.policy_id) LIMIT $2)`;
      n += (await this.pool.query(changes, [beforeAt, limit - n])).rowCount ?? 0;
    }
    return n;
  }
}
