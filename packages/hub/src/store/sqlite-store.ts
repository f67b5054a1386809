import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import type {
  AgentCounts,
  AgentFilter,
  AgentPageQuery,
  AgentPatch,
  AgentRecord,
  AuditFinish,
  AuditQuery,
  AuditRecord,
  ClosedWork,
  CloseOut,
  DestinationKind,
  DestinationRecord,
  FanoutRecord,
  FanoutTargetRecord,
  HubEventRecord,
  HubEventType,
  IdempotencyClaim,
  IdempotencyRecord,
  NewAgent,
  NewAudit,
  NewDestination,
  NewFanout,
  NewHubEvent,
  PresenceRow,
  QueryStatus,
  SessionRecord,
  Store,
  TokenRecord,
} from "./store.js";
import type { HealthSampleRecord } from "./health-samples.js";
import { SqliteCheckpointer } from "./sqlite-checkpointer.js";
import { GroupCommit } from "./sqlite-group-commit.js";
import { SqliteHistory } from "./sqlite-history.js";
import { SqliteSchedules } from "./sqlite-schedules.js";
import { SQLITE_MIGRATIONS } from "./sqlite-migrations.js";
import { matchesFilter, toAgent, toAgentFromValues, toAudit, toColumnValue, toEvent, toFanout, toFanoutTarget, toIdempotency, toSession, toToken, type Row } from "./sqlite-rows.js";
import { AGENT_COLUMNS, prepareStatements, type SqliteStatements } from "./sqlite-statements.js";

/**
 * The embedded store: one SQLite file in WAL mode. It owns its handle, migrates on open and prepares
 * each fixed statement once. `synchronous=NORMAL` under WAL keeps every committed write across a
 * process crash (only an OS crash can lose the last transactions). The hot-path writes (audit rows,
 * agent presence, events) are group-committed (sqlite-group-commit.ts).
 */
export class SqliteStore implements Store {
  readonly #db: Database.Database;
  readonly #stmt: SqliteStatements;
  /** UPDATE statements of `updateAgent`, one per shape of patch (a handful in practice). */
  readonly #patchStatements = new Map<string, Database.Statement>();
  readonly #checkpointer: SqliteCheckpointer | undefined;
  readonly history: SqliteHistory;
  readonly schedules: SqliteSchedules;
  readonly #commits: GroupCommit;
  #closed = false;

  /** Opens (creating and migrating) the database at `path`; `:memory:` for a throwaway store. */
  constructor(path: string) {
    if (path !== ":memory:") restrictFiles(path);
    this.#db = new Database(path);
    this.#db.pragma("journal_mode = WAL");
    this.#db.pragma("synchronous = NORMAL");
    if (path !== ":memory:") {
      // Checkpoints run on a thread of their own; see SqliteCheckpointer.
      this.#db.pragma("wal_autocheckpoint = 0");
      this.#checkpointer = new SqliteCheckpointer(path);
    }
    this.#db.pragma("busy_timeout = 5000");
    this.#db.pragma("foreign_keys = ON");
    this.#migrate();
    const db = this.#db;
    this.history = new SqliteHistory(db);
    this.#stmt = prepareStatements(db);
    this.#commits = new GroupCommit(db);
    this.schedules = new SqliteSchedules(db, this.#commits);
  }

  #migrate(): void {
    const applied = this.#db.pragma("user_version", { simple: true }) as number;
    for (let i = applied; i < SQLITE_MIGRATIONS.length; i++) {
      this.#db.transaction(() => {
        this.#db.exec(SQLITE_MIGRATIONS[i]!);
        this.#db.pragma(`user_version = ${i + 1}`);
      })();
    }
  }

  async ready(): Promise<boolean> {
    if (this.#closed) return false;
    try {
      this.#db.prepare("SELECT 1").get();
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#commits.close();
    this.#closed = true;
    this.#db.close();
    await this.#checkpointer?.close();
  }

  async createToken(token: TokenRecord): Promise<void> {
    this.#stmt.insertToken.run({ ...token, labels: token.labels === null ? null : JSON.stringify(token.labels) });
  }

  async findToken(id: string): Promise<TokenRecord | undefined> {
    const row = this.#stmt.findToken.get(id) as Row | undefined;
    return row && toToken(row);
  }

  async listTokens(): Promise<TokenRecord[]> {
    return (this.#stmt.listTokens.all() as Row[]).map(toToken);
  }

  async revokeToken(id: string, at: number): Promise<boolean> {
    return this.#stmt.revokeToken.run(at, id).changes > 0;
  }

  async consumeEnrollToken(id: string, now: number): Promise<boolean> {
    return this.#stmt.consumeEnrollToken.run({ id, now }).changes > 0;
  }

  async createSession(session: SessionRecord): Promise<void> {
    this.#stmt.insertSession.run(session);
  }

  async findSession(id: string): Promise<SessionRecord | undefined> {
    const row = this.#stmt.findSession.get(id) as Row | undefined;
    return row && toSession(row);
  }

  async deleteSession(id: string): Promise<boolean> {
    return this.#stmt.deleteSession.run(id).changes > 0;
  }

  async deleteTokenSessions(tokenId: string): Promise<number> {
    return this.#stmt.deleteTokenSessions.run(tokenId).changes;
  }

  async pruneSessions(now: number): Promise<number> {
    return this.#stmt.pruneSessions.run(now).changes;
  }

  async createAgent(agent: NewAgent): Promise<void> {
    this.#stmt.insertAgent.run(agent.id, agent.secretHash, agent.hostname, JSON.stringify(agent.labels), agent.enrolledAt, JSON.stringify(agent.reportedLabels ?? {}));
  }

  async findAgent(id: string): Promise<AgentRecord | undefined> {
    const row = this.#stmt.findAgent.get(id) as Row | undefined;
    return row && toAgent(row);
  }

  async listAgents(filter: AgentFilter): Promise<AgentRecord[]> {
    return (this.#stmt.listAgents.all() as unknown[][]).map(toAgentFromValues).filter((a) => matchesFilter(a, filter));
  }

  async listAgentsPage(query: AgentPageQuery): Promise<AgentRecord[]> {
    const values = { status: query.status ?? null, labels: JSON.stringify(query.labels ?? {}), limit: query.limit };
    const rows = query.after === null ? this.#stmt.listAgentsFirst.all(values) : this.#stmt.listAgentsAfter.all({ ...values, ...query.after });
    return (rows as unknown[][]).map(toAgentFromValues);
  }

  async countAgents(labels: Record<string, string>): Promise<AgentCounts> {
    const counts: AgentCounts = { online: 0, unresponsive: 0, offline: 0 };
    for (const r of this.#stmt.countAgents.all({ labels: JSON.stringify(labels) }) as { status: keyof AgentCounts; n: number }[]) counts[r.status] = r.n;
    return counts;
  }

  async listHealthSamples(agentId: string, limit: number): Promise<HealthSampleRecord[]> {
    return (this.#stmt.listHealthSamples.all(agentId, limit) as HealthSampleRecord[]).reverse();
  }

  /** Labels are matched in JS (as listAgents does); without them only the ids are read. */
  async listAgentIds(filter: Pick<AgentFilter, "labels">): Promise<string[]> {
    if (filter.labels !== undefined) return (await this.listAgents({ labels: filter.labels })).map((a) => a.id);
    return this.#stmt.listAgentIds.all() as string[];
  }

  async updateAgent(id: string, patch: AgentPatch): Promise<void> {
    const keys = Object.keys(patch) as (keyof AgentPatch)[];
    if (keys.length === 0) return;
    const sets = keys.map((k) => `${AGENT_COLUMNS[k]} = @${k}`).join(", ");
    const values: Row = { id };
    for (const k of keys) values[k] = toColumnValue(patch[k]);
    const stmt = this.#patchStatement(sets);
    await this.#commits.write(() => stmt.run(values));
  }

  #patchStatement(sets: string): Database.Statement {
    let stmt = this.#patchStatements.get(sets);
    if (stmt === undefined) {
      stmt = this.#db.prepare(`UPDATE agents SET ${sets} WHERE id = @id`);
      this.#patchStatements.set(sets, stmt);
    }
    return stmt;
  }

  async recordPresence(replicaId: string, rows: PresenceRow[]): Promise<void> {
    if (rows.length === 0) return;
    const json = JSON.stringify(rows);
    await this.#commits.write(() => {
      this.#stmt.recordPresence.run(json, replicaId);
      this.#stmt.appendHealthSamples.run(json, replicaId);
    });
  }

  async revokeAgent(id: string, at: number): Promise<boolean> {
    return this.#stmt.revokeAgent.run(at, id).changes > 0;
  }

  async markOffline(replicaId: string | null): Promise<void> {
    if (replicaId === null) this.#stmt.markAllOffline.run();
    else this.#stmt.markReplicaOffline.run(replicaId);
  }

  async insertAudit(row: NewAudit): Promise<void> {
    await this.#commits.write(() => this.#stmt.insertAudit.run({ ...row, fanoutId: row.fanoutId ?? null, replicaId: row.replicaId ?? null }));
  }

  async finishAudit(correlationId: string, finish: AuditFinish): Promise<void> {
    const values = { ...finish, correlationId, resultTruncated: finish.resultTruncated ? 1 : 0, resultSeq: finish.resultSeq ?? null };
    await this.#commits.write(() => this.#stmt.finishAudit.run(values));
  }

  async listAudit(query: AuditQuery): Promise<AuditRecord[]> {
    const rows = this.#stmt.listAudit.all({
      agentId: query.agentId ?? null,
      status: query.status ?? null,
      before: query.before ?? null,
      limit: query.limit,
    }) as Row[];
    return rows.map(toAudit);
  }

  async findAudit(correlationId: string): Promise<AuditRecord | undefined> {
    const row = this.#stmt.findAudit.get(correlationId) as Row | undefined;
    return row && toAudit(row);
  }

  async createFanout(fanout: NewFanout, targets: NewAudit[]): Promise<void> {
    const replicaId = fanout.replicaId ?? null;
    this.#db.transaction(() => {
      this.#stmt.insertFanout.run({ ...fanout, replicaId });
      for (const row of targets) this.#stmt.insertAudit.run({ ...row, fanoutId: fanout.id, replicaId });
    })();
  }

  async finishFanout(id: string, finishedAt: number): Promise<void> {
    this.#stmt.finishFanout.run(finishedAt, id);
  }

  async findFanout(id: string): Promise<FanoutRecord | undefined> {
    const row = this.#stmt.findFanout.get(id) as Row | undefined;
    return row && toFanout(row);
  }

  async listFanoutTargets(id: string): Promise<AuditRecord[]> {
    return (this.#stmt.listFanoutTargets.all(id) as Row[]).map(toAudit);
  }

  async listFanoutResults(id: string, afterResultSeq: number): Promise<AuditRecord[]> {
    return (this.#stmt.listFanoutResults.all(id, afterResultSeq) as Row[]).map(toAudit);
  }

  async listFanoutTargetPage(id: string, afterAgentId: string | null, limit: number): Promise<FanoutTargetRecord[]> {
    // '' sorts before every agent id (they are never empty), so the first page is the same range read.
    return (this.#stmt.listFanoutTargetPage.all({ id, after: afterAgentId ?? "", limit }) as Row[]).map(toFanoutTarget);
  }

  async countFanoutTargets(id: string): Promise<Partial<Record<QueryStatus, number>>> {
    const rows = this.#stmt.countFanoutTargets.all(id) as { status: QueryStatus; n: number }[];
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }

  /** The event and its outbox copy go in the same group-commit transaction. */
  async appendEvents(events: NewHubEvent[], outboxTypes: readonly HubEventType[] = [], background = false): Promise<HubEventRecord[]> {
    return this.#commits.write(
      () =>
        events.map((e) => {
          const data = JSON.stringify(e.data);
          const seq = Number(this.#stmt.insertEvent.run(e.type, data, e.createdAt).lastInsertRowid);
          if (outboxTypes.includes(e.type)) this.#stmt.insertOutbox.run(seq, e.type, data, e.createdAt);
          return { ...e, seq };
        }),
      background,
    );
  }

  async listEvents(afterSeq: number, limit: number): Promise<HubEventRecord[]> {
    return (this.#stmt.listEvents.all(afterSeq, limit) as Row[]).map(toEvent);
  }

  async listOutbox(afterSeq: number, limit: number): Promise<HubEventRecord[]> {
    return (this.#stmt.listOutbox.all(afterSeq, limit) as Row[]).map(toEvent);
  }

  async createDestination(d: NewDestination): Promise<DestinationRecord> {
    // Events still queued for the group commit were appended before this destination existed.
    this.#commits.commitNow();
    this.#stmt.insertDestination.run(d);
    return (await this.findDestination(d.id))!;
  }

  async findDestination(id: string): Promise<DestinationRecord | undefined> {
    return this.#stmt.findDestination.get(id) as DestinationRecord | undefined;
  }

  async listDestinations(): Promise<DestinationRecord[]> {
    return this.#stmt.listDestinations.all() as DestinationRecord[];
  }

  async deleteDestination(id: string): Promise<boolean> {
    return this.#stmt.deleteDestination.run(id).changes > 0;
  }

  async claimDestination(id: string, replicaId: string, leaseMs: number): Promise<boolean> {
    return this.#stmt.claimDestination.run({ id, replicaId, leaseMs, now: Date.now() }).changes > 0;
  }

  async releaseDestinations(replicaId: string | null): Promise<void> {
    this.#stmt.releaseDestinations.run({ replicaId });
  }

  async advanceDestination(id: string, replicaId: string, seq: number): Promise<boolean> {
    return this.#stmt.advanceDestination.run({ id, replicaId, seq }).changes > 0;
  }

  async recordDestinationFailure(id: string, replicaId: string, error: string, at: number): Promise<boolean> {
    return this.#stmt.recordDestinationFailure.run({ id, replicaId, error, at }).changes > 0;
  }

  async destinationBacklog(): Promise<Record<DestinationKind, number>> {
    const backlog: Record<DestinationKind, number> = { webhook: 0, file: 0 };
    for (const r of this.#stmt.destinationBacklog.all() as { kind: DestinationKind; n: number }[]) backlog[r.kind] = r.n;
    return backlog;
  }

  async pruneOutbox(limit: number): Promise<number> {
    return this.#stmt.pruneOutbox.run(limit).changes;
  }

  /** One transaction: the process is the only writer, so reading then updating cannot race. */
  async closeOpenWork(replicaId: string | null, closeOut: CloseOut): Promise<ClosedWork> {
    // Writes queued for the group commit go first, so a command inserted this turn is seen as open.
    this.#commits.commitNow();
    return this.#db.transaction((): ClosedWork => {
      const commands: ClosedWork["commands"] = [];
      const nextSeq = new Map<string, number>();
      for (const row of this.#stmt.listOpenAudit.all({ replicaId }) as Row[]) {
        const fanoutId = (row.fanout_id as string | null) ?? null;
        let resultSeq: number | null = null;
        if (fanoutId !== null) {
          resultSeq = (nextSeq.get(fanoutId) ?? ((this.#stmt.maxResultSeq.get(fanoutId) as { n: number }).n)) + 1;
          nextSeq.set(fanoutId, resultSeq);
        }
        const correlationId = row.correlation_id as string;
        this.#stmt.closeAudit.run({ correlationId, at: closeOut.at, code: closeOut.code, message: closeOut.message, resultSeq });
        if (fanoutId === null) commands.push({ correlationId, agentId: row.agent_id as string });
      }
      const fanouts = (this.#stmt.listOpenFanouts.all({ replicaId }) as Row[]).map((r) => ({ id: r.id as string, targetCount: r.target_count as number }));
      for (const f of fanouts) this.#stmt.finishFanout.run(closeOut.at, f.id);
      return { commands, fanouts };
    })();
  }

  async openWorkOwners(): Promise<string[]> {
    return (this.#stmt.openWorkOwners.all() as Row[]).map((r) => r.replica_id as string);
  }

  async revokedAmong(agentIds: string[]): Promise<string[]> {
    if (agentIds.length === 0) return [];
    return (this.#stmt.revokedAmong.all(JSON.stringify(agentIds)) as Row[]).map((r) => r.id as string);
  }

  async revokedSince(cursor: number, limit: number): Promise<{ agentIds: string[]; cursor: number }> {
    const rows = this.#stmt.revokedSince.all(cursor, limit) as Row[];
    return { agentIds: rows.map((r) => r.id as string), cursor: (rows.at(-1)?.revoked_seq as number | undefined) ?? cursor };
  }

  async revocationCursor(): Promise<number> {
    return (this.#stmt.revocationCursor.get() as Row).cursor as number;
  }

  async claimIdempotencyKey(claim: IdempotencyClaim, now: number): Promise<IdempotencyRecord | undefined> {
    // One statement: an insert, or the replacement of an expired record; no change means the key is held.
    return this.#commits.write(() => {
      if (this.#stmt.claimIdempotencyKey.run({ ...claim, now }).changes > 0) return undefined;
      return toIdempotency(this.#stmt.findIdempotencyKey.get(claim.key) as Row);
    });
  }

  async completeIdempotencyKey(key: string, owner: string, response: string, expiresAt: number): Promise<boolean> {
    return this.#commits.write(() => this.#stmt.completeIdempotencyKey.run(response, expiresAt, key, owner).changes > 0);
  }

  async releaseIdempotencyKey(key: string, owner: string): Promise<void> {
    await this.#commits.write(() => this.#stmt.releaseIdempotencyKey.run(key, owner));
  }

  async findIdempotencyKey(key: string): Promise<IdempotencyRecord | undefined> {
    const row = this.#stmt.findIdempotencyKey.get(key) as Row | undefined;
    return row && toIdempotency(row);
  }

  async pruneIdempotencyKeys(now: number): Promise<number> {
    return this.#stmt.pruneIdempotencyKeys.run(now).changes;
  }

  async dropIdempotencyClaims(): Promise<void> {
    this.#stmt.dropIdempotencyClaims.run();
  }
}

/**
 * The store holds key hashes and the whole audit: only the hub's user may read it. A data directory the
 * hub creates is 0700 (an existing one keeps its mode: it may be shared, e.g. `/var/lib`); the database
 * file is made 0600 before SQLite opens it, and SQLite creates its `-wal` and `-shm` files with the
 * database file's mode. Files left by an older hub are tightened too.
 */
function restrictFiles(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  closeSync(openSync(path, "a", 0o600));
  for (const file of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(file)) chmodSync(file, 0o600);
}
