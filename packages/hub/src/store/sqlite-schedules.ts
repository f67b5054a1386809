import type Database from "better-sqlite3";
import type { PolicyState } from "@uplink/protocol";
import type { GroupCommit } from "./sqlite-group-commit.js";
import type { Row } from "./sqlite-rows.js";
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

const SCHEDULE = "id, kind, name, query, collector, interval_ms, targets, mode, timeout_ms, enabled, created_at, updated_at";
const RUN = "seq, schedule_id, agent_id, slot, correlation_id, owner, status, snapshot, added, removed, rows, error_code, error_message, created_at, finished_at";
/** Columns a PATCH may set, by field. */
const CHANGE_COLUMNS: Record<keyof ScheduleChange, string> = {
  name: "name", query: "query", collector: "collector", intervalMs: "interval_ms", targets: "targets", mode: "mode", timeoutMs: "timeout_ms", enabled: "enabled", updatedAt: "updated_at",
};

/** Claims or ends per multi-row statement at most (6 and 12 parameters each). */
const CHUNK = 64;
/** The columns of an ended run, in the order of the multi-row end's VALUES: its key first. */
const FINISH_VALUES = ["scheduleId", "agentId", "slot", "correlationId", "status", "snapshot", "added", "removed", "rows", "errorCode", "errorMessage", "finishedAt"] as const;

const json = (text: unknown): ResultRow[] | null => (text === null ? null : (JSON.parse(text as string) as ResultRow[]));
const text = (rows: ResultRow[] | null): string | null => (rows === null ? null : JSON.stringify(rows));

/** A run's end waiting for the group commit: its columns, and the base to store if it ends. */
type QueuedEnd = Row & { base?: ResultRow[] | undefined };

/** `(?, …), …`: `rows` groups of `columns` placeholders, the VALUES of a multi-row statement. */
function placeholders(rows: number, columns: number): string {
  const row = `(${Array(columns).fill("?").join(", ")})`;
  return Array(rows).fill(row).join(", ");
}

function toSchedule(r: Row): ScheduleRecord {
  return {
    id: r.id as string,
    kind: r.kind as ScheduleKind,
    name: r.name as string,
    query: r.query as string,
    collector: r.collector as string,
    intervalMs: r.interval_ms as number,
    targets: JSON.parse(r.targets as string) as ScheduleRecord["targets"],
    mode: (r.mode as ScheduleRecord["mode"]) ?? null,
    timeoutMs: (r.timeout_ms as number | null) ?? null,
    enabled: r.enabled === 1,
    createdAt: r.created_at as number,
    updatedAt: r.updated_at as number,
  };
}

function toRun(r: Row): ScheduleRunRecord {
  return {
    seq: r.seq as number,
    scheduleId: r.schedule_id as string,
    agentId: r.agent_id as string,
    slot: r.slot as number,
    correlationId: r.correlation_id as string,
    owner: r.owner as string,
    status: r.status as ScheduleRunRecord["status"],
    snapshot: r.snapshot === 1,
    added: json(r.added),
    removed: json(r.removed),
    rows: json(r.rows),
    errorCode: (r.error_code as string | null) ?? null,
    errorMessage: (r.error_message as string | null) ?? null,
    createdAt: r.created_at as number,
    finishedAt: (r.finished_at as number | null) ?? null,
  };
}

function toHost(r: Row): PolicyHostRecord {
  return { policyId: r.policy_id as string, agentId: r.agent_id as string, state: r.state as PolicyState, reason: (r.reason as string | null) ?? null, since: r.since as number, checkedAt: r.checked_at as number };
}

/**
 * The embedded store's schedules (see ScheduleStore); run claims and ends share the group commit. The
 * claims queued in one group commit, and the ends, are written as multi-row statements, a few for hundreds
 * of runs.
 */
export class SqliteSchedules implements ScheduleStore {
  readonly #db: Database.Database;
  readonly #commits: GroupCommit;
  readonly #s;
  /** The claims waiting for the next group commit, and what it resolves: the correlationIds it claimed. */
  #claiming: { runs: NewScheduleRun[]; claimed: Promise<Set<string>> } | undefined;
  /** The ends waiting for the next group commit, and what it resolves: the correlationIds it ended. */
  #finishing: { runs: Map<string, QueuedEnd>; ended: Promise<Set<string>> } | undefined;
  /** Multi-row claim and end statements by number of rows, prepared once each. */
  readonly #claimsOf = new Map<number, Database.Statement>();
  readonly #finishesOf = new Map<number, Database.Statement>();

  constructor(db: Database.Database, commits: GroupCommit) {
    this.#db = db;
    this.#commits = commits;
    this.#s = {
      insert: db.prepare(`INSERT INTO schedules (${SCHEDULE}) VALUES (@id, @kind, @name, @query, @collector, @intervalMs, @targets, @mode, @timeoutMs, @enabled, @createdAt, @updatedAt) ON CONFLICT (kind, name) DO NOTHING`),
      find: db.prepare(`SELECT ${SCHEDULE} FROM schedules WHERE id = ?`),
      list: db.prepare(`SELECT ${SCHEDULE} FROM schedules WHERE @kind IS NULL OR kind = @kind ORDER BY name, id`),
      nameTaken: db.prepare("SELECT 1 FROM schedules WHERE kind = ? AND name = ? AND id <> ?"),
      delete: db.prepare("DELETE FROM schedules WHERE id = ?"),
      deleteAgents: db.prepare("DELETE FROM schedule_agents WHERE schedule_id = ?"),
      deleteHosts: db.prepare("DELETE FROM policy_hosts WHERE policy_id = ?"),
      // The cursor is the agent's latest claimed slot, read off the runs' (schedule, slot, agent) key: the
      // recent slots' range of it.
      cursors: db.prepare(
        `SELECT agent_id, MAX(slot) AS last_slot FROM schedule_runs
         WHERE schedule_id = @scheduleId AND slot >= @sinceSlot AND EXISTS (SELECT 1 FROM schedules WHERE id = @scheduleId) GROUP BY agent_id`,
      ),
      claim: db.prepare(
        `INSERT INTO schedule_runs (schedule_id, agent_id, slot, correlation_id, owner, status, created_at)
         SELECT @scheduleId, @agentId, @slot, @correlationId, @owner, 'pending', @createdAt WHERE EXISTS (SELECT 1 FROM schedules WHERE id = @scheduleId AND enabled = 1)
         ON CONFLICT (schedule_id, slot, agent_id) DO NOTHING`,
      ),
      takeOver: db.prepare(
        `UPDATE schedule_runs SET correlation_id = @correlationId, owner = @owner
         WHERE schedule_id = @scheduleId AND agent_id = @agentId AND slot = @slot AND status = 'pending' AND owner <> @owner
           AND EXISTS (SELECT 1 FROM schedules WHERE id = @scheduleId AND enabled = 1)`,
      ),
      openRuns: db.prepare(`SELECT ${RUN} FROM schedule_runs WHERE status = 'pending' AND owner <> ? ORDER BY seq LIMIT ?`),
      base: db.prepare("SELECT base_rows FROM schedule_agents WHERE schedule_id = ? AND agent_id = ?"),
      setBase: db.prepare(
        `INSERT INTO schedule_agents (schedule_id, agent_id, last_slot, base_rows) VALUES (@scheduleId, @agentId, 0, @base)
         ON CONFLICT (schedule_id, agent_id) DO UPDATE SET base_rows = excluded.base_rows`,
      ),
      resetBase: db.prepare("UPDATE schedule_agents SET base_rows = NULL WHERE schedule_id = ?"),
      runs: db.prepare(
        `SELECT ${RUN} FROM schedule_runs WHERE schedule_id = @scheduleId AND (@agentId IS NULL OR agent_id = @agentId)
         AND (@before IS NULL OR seq < @before) ORDER BY seq DESC LIMIT @limit`,
      ),
      host: db.prepare("SELECT state FROM policy_hosts WHERE policy_id = ? AND agent_id = ?"),
      upsertHost: db.prepare(
        `INSERT INTO policy_hosts (policy_id, agent_id, state, reason, since, checked_at) VALUES (@policyId, @agentId, @state, @reason, @checkedAt, @checkedAt)
         ON CONFLICT (policy_id, agent_id) DO UPDATE SET state = excluded.state, reason = excluded.reason, since = excluded.since, checked_at = excluded.checked_at`,
      ),
      touchHost: db.prepare("UPDATE policy_hosts SET checked_at = @checkedAt, reason = @reason WHERE policy_id = @policyId AND agent_id = @agentId"),
      change: db.prepare("INSERT INTO policy_changes (policy_id, agent_id, from_state, to_state, reason, at) VALUES (?, ?, ?, ?, ?, ?)"),
      hosts: db.prepare("SELECT * FROM policy_hosts WHERE policy_id = @policyId AND (@state IS NULL OR state = @state) ORDER BY agent_id"),
      counts: db.prepare("SELECT policy_id, state, COUNT(*) AS n FROM policy_hosts GROUP BY policy_id, state"),
      changes: db.prepare("SELECT * FROM policy_changes WHERE policy_id = ? ORDER BY seq DESC LIMIT ?"),
      mark: db.prepare("SELECT seq FROM schedule_runs WHERE @from IS NULL OR seq < @from ORDER BY seq DESC LIMIT 1 OFFSET @offset"),
      prune: db.prepare(
        `DELETE FROM schedule_runs WHERE seq IN (
           SELECT seq FROM schedule_runs WHERE status <> 'pending' AND seq < (SELECT MAX(seq) FROM schedule_runs)
             AND ((@beforeSeq IS NOT NULL AND seq < @beforeSeq) OR (@beforeAt IS NOT NULL AND created_at < @beforeAt))
           ORDER BY seq LIMIT @limit)`,
      ),
      pruneOrphanRuns: db.prepare("DELETE FROM schedule_runs WHERE seq IN (SELECT seq FROM schedule_runs WHERE schedule_id NOT IN (SELECT id FROM schedules) AND seq < (SELECT MAX(seq) FROM schedule_runs) LIMIT ?)"),
      pruneChanges: db.prepare(
        `DELETE FROM policy_changes WHERE seq IN (SELECT seq FROM policy_changes WHERE seq < (SELECT MAX(seq) FROM policy_changes)
           AND ((@beforeAt IS NOT NULL AND at < @beforeAt) OR policy_id NOT IN (SELECT id FROM schedules)) LIMIT @limit)`,
      ),
    };
  }

  async createSchedule(s: ScheduleRecord): Promise<boolean> {
    return this.#s.insert.run({ ...s, targets: JSON.stringify(s.targets), enabled: s.enabled ? 1 : 0 }).changes > 0;
  }

  async updateSchedule(id: string, change: ScheduleChange): Promise<ScheduleRecord | undefined | "name_taken"> {
    return this.#db.transaction((): ScheduleRecord | undefined | "name_taken" => {
      const row = this.#s.find.get(id) as Row | undefined;
      if (row === undefined) return undefined;
      if (change.name !== undefined && this.#s.nameTaken.get(row.kind, change.name, id) !== undefined) return "name_taken";
      const keys = (Object.keys(change) as (keyof ScheduleChange)[]).filter((k) => change[k] !== undefined);
      const values: Row = { id };
      for (const k of keys) {
        const v = change[k];
        values[k] = k === "targets" ? JSON.stringify(v) : k === "enabled" ? (v ? 1 : 0) : (v as unknown);
      }
      this.#db.prepare(`UPDATE schedules SET ${keys.map((k) => `${CHANGE_COLUMNS[k]} = @${k}`).join(", ")} WHERE id = @id`).run(values);
      const updated = toSchedule(this.#s.find.get(id) as Row);
      if (resetsBase(toSchedule(row), updated)) this.#s.resetBase.run(id);
      return updated;
    })();
  }

  async deleteSchedule(id: string): Promise<boolean> {
    return this.#db.transaction(() => {
      if (this.#s.delete.run(id).changes === 0) return false;
      this.#s.deleteAgents.run(id);
      this.#s.deleteHosts.run(id);
      return true;
    })();
  }

  async findSchedule(id: string): Promise<ScheduleRecord | undefined> {
    const row = this.#s.find.get(id) as Row | undefined;
    return row && toSchedule(row);
  }

  async listSchedules(kind?: ScheduleKind): Promise<ScheduleRecord[]> {
    return (this.#s.list.all({ kind: kind ?? null }) as Row[]).map(toSchedule);
  }

  async listCursors(scheduleId: string, sinceSlot: number): Promise<Map<string, number>> {
    return new Map((this.#s.cursors.all({ scheduleId, sinceSlot }) as Row[]).map((r) => [r.agent_id as string, r.last_slot as number]));
  }

  async claimRun(run: NewScheduleRun, takeOver = false): Promise<boolean> {
    if (takeOver) {
      return this.#commits.write(() => this.#s.claim.run(run).changes > 0 || this.#s.takeOver.run(run).changes > 0, true);
    }
    let batch = this.#claiming;
    // A batch is one write of the background commit, which is done in slices: a batch is a statement's worth.
    if (batch === undefined || batch.runs.length >= CHUNK) {
      const runs: NewScheduleRun[] = [];
      const claimed = this.#commits.write(() => {
        if (this.#claiming?.runs === runs) this.#claiming = undefined;
        return this.#claimAll(runs);
      }, true);
      batch = this.#claiming = { runs, claimed };
    }
    batch.runs.push(run);
    return (await batch.claimed).has(run.correlationId);
  }

  /** Claims the runs: a slot already claimed, or of a schedule gone or disabled, is not. */
  #claimAll(runs: NewScheduleRun[]): Set<string> {
    const out = new Set<string>();
    for (let i = 0; i < runs.length; i += CHUNK) {
      const chunk = runs.slice(i, i + CHUNK);
      const claimed = this.#claimStatement(chunk.length).all(chunk.flatMap((r) => [r.scheduleId, r.agentId, r.slot, r.correlationId, r.owner, r.createdAt])) as Row[];
      for (const r of claimed) out.add(r.correlation_id as string);
    }
    return out;
  }

  #claimStatement(rows: number): Database.Statement {
    let statement = this.#claimsOf.get(rows);
    if (statement === undefined) {
      statement = this.#db.prepare(
        `INSERT INTO schedule_runs (schedule_id, agent_id, slot, correlation_id, owner, status, created_at)
         SELECT column1, column2, column3, column4, column5, 'pending', column6 FROM (VALUES ${placeholders(rows, 6)})
         WHERE EXISTS (SELECT 1 FROM schedules WHERE id = column1 AND enabled = 1)
         ON CONFLICT (schedule_id, slot, agent_id) DO NOTHING RETURNING correlation_id`,
      );
      this.#claimsOf.set(rows, statement);
    }
    return statement;
  }

  async openRuns(owner: string, limit: number): Promise<ScheduleRunRecord[]> {
    this.#commits.commitNow();
    return (this.#s.openRuns.all(owner, limit) as Row[]).map(toRun);
  }

  async baseRows(scheduleId: string, agentId: string): Promise<ResultRow[] | null> {
    const row = this.#s.base.get(scheduleId, agentId) as Row | undefined;
    return row === undefined ? null : json(row.base_rows);
  }

  async finishRun(run: RunKey, f: RunFinish): Promise<boolean> {
    const { scheduleId, agentId, slot, correlationId } = run;
    let batch = this.#finishing;
    if (batch?.runs.has(correlationId)) {
      // The same run ended twice in one batch: this end comes after the first, which it finds ended.
      await batch.ended;
      return this.finishRun(run, f);
    }
    if (batch === undefined || batch.runs.size >= CHUNK) {
      const runs = new Map<string, QueuedEnd>();
      const ended = this.#commits.write(() => {
        if (this.#finishing?.runs === runs) this.#finishing = undefined;
        return this.#finishAll([...runs.values()]);
      }, true);
      batch = this.#finishing = { runs, ended };
    }
    batch.runs.set(correlationId, { ...f, scheduleId, agentId, slot, correlationId, snapshot: f.snapshot ? 1 : 0, added: text(f.added), removed: text(f.removed), rows: text(f.rows) });
    return (await batch.ended).has(correlationId);
  }

  /**
   * Ends the runs still pending under their correlationIds, found by their (schedule, agent, slot) key, and
   * stores the bases of those ended.
   */
  #finishAll(runs: QueuedEnd[]): Set<string> {
    const out = new Set<string>();
    for (let i = 0; i < runs.length; i += CHUNK) {
      const chunk = runs.slice(i, i + CHUNK);
      let statement = this.#finishesOf.get(chunk.length);
      if (statement === undefined) {
        // One run's end per row of VALUES, matched by its key and correlationId, and only while pending.
        statement = this.#db.prepare(
          `UPDATE schedule_runs SET status = v.column5, snapshot = v.column6, added = v.column7, removed = v.column8, rows = v.column9,
             error_code = v.column10, error_message = v.column11, finished_at = v.column12
           FROM (VALUES ${placeholders(chunk.length, FINISH_VALUES.length)}) AS v
           WHERE schedule_runs.schedule_id = v.column1 AND schedule_runs.agent_id = v.column2 AND schedule_runs.slot = v.column3
             AND schedule_runs.correlation_id = v.column4 AND schedule_runs.status = 'pending'
           RETURNING schedule_runs.correlation_id`,
        );
        this.#finishesOf.set(chunk.length, statement);
      }
      const ended = statement.all(chunk.flatMap((r) => FINISH_VALUES.map((k) => r[k]))) as Row[];
      const byId = new Map(chunk.map((r) => [r.correlationId as string, r]));
      for (const e of ended) {
        const run = byId.get(e.correlation_id as string)!;
        out.add(e.correlation_id as string);
        if (run.base !== undefined) this.#s.setBase.run({ scheduleId: run.scheduleId, agentId: run.agentId, base: JSON.stringify(run.base) });
      }
    }
    return out;
  }

  async listRuns(scheduleId: string, page: RunPage): Promise<ScheduleRunRecord[]> {
    return (this.#s.runs.all({ scheduleId, agentId: page.agentId ?? null, before: page.before ?? null, limit: page.limit }) as Row[]).map(toRun);
  }

  async setPolicyHost(h: Omit<PolicyHostRecord, "since">): Promise<{ from: PolicyState | null } | undefined> {
    return this.#commits.write(() => {
      const current = this.#s.host.get(h.policyId, h.agentId) as Row | undefined;
      const from = (current?.state as PolicyState | undefined) ?? null;
      if (from === h.state) {
        this.#s.touchHost.run(h);
        return undefined;
      }
      this.#s.upsertHost.run(h);
      this.#s.change.run(h.policyId, h.agentId, from, h.state, h.reason, h.checkedAt);
      return { from };
    }, true);
  }

  async listPolicyHosts(policyId: string, state?: PolicyState): Promise<PolicyHostRecord[]> {
    return (this.#s.hosts.all({ policyId, state: state ?? null }) as Row[]).map(toHost);
  }

  async policyCounts(): Promise<Map<string, Record<PolicyState, number>>> {
    const out = new Map<string, Record<PolicyState, number>>();
    for (const r of this.#s.counts.all() as Row[]) {
      const counts = out.get(r.policy_id as string) ?? emptyCounts();
      counts[r.state as PolicyState] = r.n as number;
      out.set(r.policy_id as string, counts);
    }
    return out;
  }

  async listPolicyChanges(policyId: string, limit: number): Promise<PolicyChangeRecord[]> {
    return (this.#s.changes.all(policyId, limit) as Row[]).map((r) => ({
      seq: r.seq as number,
      policyId: r.policy_id as string,
      agentId: r.agent_id as string,
      from: (r.from_state as PolicyState | null) ?? null,
      to: r.to_state as PolicyState,
      reason: (r.reason as string | null) ?? null,
      at: r.at as number,
    }));
  }

  async runMark(fromSeq: number | null, offset: number): Promise<number | undefined> {
    return (this.#s.mark.get({ from: fromSeq, offset }) as Row | undefined)?.seq as number | undefined;
  }

  async pruneRuns(beforeSeq: number | null, beforeAt: number | null, limit: number): Promise<number> {
    let n = beforeSeq === null && beforeAt === null ? 0 : this.#s.prune.run({ beforeSeq, beforeAt, limit }).changes;
    if (n < limit) n += this.#s.pruneOrphanRuns.run(limit - n).changes;
    if (n < limit) n += this.#s.pruneChanges.run({ beforeAt, limit: limit - n }).changes;
    return n;
  }
}
