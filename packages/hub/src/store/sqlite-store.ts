import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import type {
  AgentFilter,
  AgentPatch,
  AgentRecord,
  AuditFinish,
  AuditQuery,
  AuditRecord,
  ClosedWork,
  CloseOut,
  FanoutRecord,
  HubEventRecord,
  IdempotencyClaim,
  IdempotencyRecord,
  NewAgent,
  NewAudit,
  NewFanout,
  NewHubEvent,
  PresenceRow,
  Store,
  TokenRecord,
} from "./store.js";
import { SqliteCheckpointer } from "./sqlite-checkpointer.js";
import { SqliteHistory } from "./sqlite-history.js";
import { SQLITE_MIGRATIONS } from "./sqlite-migrations.js";

type Row = Record<string, unknown>;

/** Column of `agents` for each patchable field. */
const AGENT_COLUMNS: Record<keyof AgentPatch, string> = {
  hostname: "hostname",
  labels: "labels",
  reportedLabels: "reported_labels",
  status: "status",
  protocol: "protocol",
  agentVersion: "agent_version",
  platform: "platform",
  arch: "arch",
  connectedAt: "connected_at",
  lastSeenAt: "last_seen_at",
  lastHealth: "last_health",
  replicaId: "replica_id",
  legacyShapes: "legacy_shapes",
};

/** A write waiting for the next group commit. */
interface QueuedWrite {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * The embedded store: one SQLite file in WAL mode. It owns its handle, migrates on open and prepares
 * each fixed statement once. `synchronous=NORMAL` under WAL keeps every committed write across a
 * process crash (only an OS crash can lose the last transactions).
 *
 * The hot-path writes (audit rows, agent presence, events) are group-committed: every such write
 * queued during one turn of the event loop runs in one transaction, and each caller's promise resolves
 * only after that transaction committed. Many concurrent queries then share one WAL append instead of
 * paying a page-sized commit each.
 */
export class SqliteStore implements Store {
  readonly #db: Database.Database;
  readonly #stmt;
  /** UPDATE statements of `updateAgent`, one per shape of patch (a handful in practice). */
  readonly #patchStatements = new Map<string, Database.Statement>();
  readonly #checkpointer: SqliteCheckpointer | undefined;
  readonly history: SqliteHistory;
  #queue: QueuedWrite[] = [];
  #flush: NodeJS.Immediate | undefined;
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
    this.#stmt = {
      insertToken: db.prepare(
        `INSERT INTO tokens (id, kind, scope, name, secret_hash, created_at, expires_at, revoked_at, labels, max_uses, uses)
         VALUES (@id, @kind, @scope, @name, @secretHash, @createdAt, @expiresAt, @revokedAt, @labels, @maxUses, @uses)`,
      ),
      findToken: db.prepare(`SELECT * FROM tokens WHERE id = ?`),
      listTokens: db.prepare(`SELECT * FROM tokens ORDER BY created_at, id`),
      revokeToken: db.prepare(`UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`),
      consumeEnrollToken: db.prepare(
        `UPDATE tokens SET uses = uses + 1 WHERE id = @id AND kind = 'enroll' AND revoked_at IS NULL
           AND (expires_at IS NULL OR expires_at > @now) AND (max_uses IS NULL OR uses < max_uses)`,
      ),
      insertAgent: db.prepare(
        `INSERT INTO agents (id, secret_hash, hostname, labels, enrolled_at, reported_labels) VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      findAgent: db.prepare(`SELECT * FROM agents WHERE id = ?`),
      listAgents: db.prepare(`SELECT * FROM agents WHERE revoked_at IS NULL ORDER BY hostname, id`),
      // One statement for a whole presence flush: the rows go in as one JSON array.
      recordPresence: db.prepare(
        `UPDATE agents SET last_seen_at = MAX(COALESCE(agents.last_seen_at, 0), v.seen), last_health = COALESCE(v.health, agents.last_health)
         FROM (SELECT value ->> 'id' AS id, value ->> 'lastSeenAt' AS seen, value ->> 'lastHealth' AS health FROM json_each(?)) AS v
         WHERE agents.id = v.id AND agents.replica_id = ?`,
      ),
      revokeAgent: db.prepare(
        `UPDATE agents SET revoked_at = ?, status = 'offline' WHERE id = ? AND revoked_at IS NULL`,
      ),
      markAllOffline: db.prepare(`UPDATE agents SET status = 'offline' WHERE status != 'offline'`),
      markReplicaOffline: db.prepare(`UPDATE agents SET status = 'offline' WHERE replica_id = ? AND status != 'offline'`),
      insertAudit: db.prepare(
        `INSERT INTO query_audit (correlation_id, fanout_id, replica_id, agent_id, requester, session_id, request_id, collector, query, status, created_at)
         VALUES (@correlationId, @fanoutId, @replicaId, @agentId, @requester, @sessionId, @requestId, @collector, @query, 'pending', @createdAt)`,
      ),
      finishAudit: db.prepare(
        `UPDATE query_audit SET status = @status, finished_at = @finishedAt, duration_ms = @durationMs,
           error_code = @errorCode, error_message = @errorMessage, result = @resultJson, result_truncated = @resultTruncated,
           result_seq = @resultSeq
         WHERE correlation_id = @correlationId AND status = 'pending'`,
      ),
      findAudit: db.prepare(`SELECT * FROM query_audit WHERE correlation_id = ?`),
      insertFanout: db.prepare(
        `INSERT INTO fanouts (id, query, collector, requester, request_id, timeout_ms, target_count, created_at, replica_id)
         VALUES (@id, @query, @collector, @requester, @requestId, @timeoutMs, @targetCount, @createdAt, @replicaId)`,
      ),
      finishFanout: db.prepare(`UPDATE fanouts SET finished_at = ? WHERE id = ?`),
      findFanout: db.prepare(`SELECT * FROM fanouts WHERE id = ?`),
      listFanoutTargets: db.prepare(
        `SELECT * FROM query_audit WHERE fanout_id = ? ORDER BY result_seq IS NULL, result_seq, seq`,
      ),
      listFanoutResults: db.prepare(
        `SELECT * FROM query_audit WHERE fanout_id = ? AND result_seq > ? ORDER BY result_seq`,
      ),
      insertEvent: db.prepare(`INSERT INTO events (type, data, created_at) VALUES (?, ?, ?)`),
      listEvents: db.prepare(`SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?`),
      claimIdempotencyKey: db.prepare(
        `INSERT INTO idempotency_keys (key, requester, fingerprint, owner, state, created_at, expires_at, response)
         VALUES (@key, @requester, @fingerprint, @owner, 'running', @createdAt, @expiresAt, NULL)
         ON CONFLICT (key) DO UPDATE SET requester = excluded.requester, fingerprint = excluded.fingerprint, owner = excluded.owner,
           state = 'running', created_at = excluded.created_at, expires_at = excluded.expires_at, response = NULL
           WHERE idempotency_keys.expires_at <= @now`,
      ),
      completeIdempotencyKey: db.prepare(
        `UPDATE idempotency_keys SET state = 'done', response = ?, expires_at = ? WHERE key = ? AND owner = ? AND state = 'running'`,
      ),
      releaseIdempotencyKey: db.prepare(`DELETE FROM idempotency_keys WHERE key = ? AND owner = ? AND state = 'running'`),
      findIdempotencyKey: db.prepare(`SELECT * FROM idempotency_keys WHERE key = ?`),
      pruneIdempotencyKeys: db.prepare(`DELETE FROM idempotency_keys WHERE expires_at <= ?`),
      dropIdempotencyClaims: db.prepare(`DELETE FROM idempotency_keys WHERE state = 'running'`),
      listOpenAudit: db.prepare(
        `SELECT correlation_id, agent_id, fanout_id FROM query_audit
         WHERE status = 'pending' AND (@replicaId IS NULL OR replica_id = @replicaId) ORDER BY seq`,
      ),
      maxResultSeq: db.prepare(`SELECT COALESCE(MAX(result_seq), 0) AS n FROM query_audit WHERE fanout_id = ?`),
      closeAudit: db.prepare(
        `UPDATE query_audit SET status = 'error', finished_at = @at, error_code = @code, error_message = @message, result_seq = @resultSeq
         WHERE correlation_id = @correlationId AND status = 'pending'`,
      ),
      listOpenFanouts: db.prepare(
        `SELECT id, target_count FROM fanouts WHERE finished_at IS NULL AND (@replicaId IS NULL OR replica_id = @replicaId) ORDER BY created_at, id`,
      ),
      openWorkOwners: db.prepare(
        `SELECT replica_id FROM query_audit WHERE status = 'pending' AND replica_id IS NOT NULL
         UNION SELECT replica_id FROM fanouts WHERE finished_at IS NULL AND replica_id IS NOT NULL`,
      ),
      revokedAmong: db.prepare(`SELECT id FROM agents WHERE revoked_at IS NOT NULL AND id IN (SELECT value FROM json_each(?))`),
      revokedSince: db.prepare(`SELECT id, revoked_seq FROM agents WHERE revoked_seq IS NOT NULL AND revoked_seq > ? ORDER BY revoked_seq LIMIT ?`),
      revocationCursor: db.prepare(`SELECT COALESCE(MAX(revoked_seq), 0) AS cursor FROM agents WHERE revoked_seq IS NOT NULL`),
      listAudit: db.prepare(
        `SELECT * FROM query_audit WHERE (@agentId IS NULL OR agent_id = @agentId) AND (@before IS NULL OR seq < @before)
         ORDER BY seq DESC LIMIT @limit`,
      ),
    };
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
    clearImmediate(this.#flush);
    this.#commitQueued();
    this.#closed = true;
    this.#db.close();
    await this.#checkpointer?.close();
  }

  /** Queues `work` for the group commit of this turn; resolves with its result once committed. */
  #write<T>(work: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(new Error("the store is closed"));
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      this.#flush ??= setImmediate(() => this.#commitQueued());
    });
  }

  #commitQueued(): void {
    this.#flush = undefined;
    const batch = this.#queue;
    this.#queue = [];
    if (batch.length === 0) return;
    // A failing statement rolls back alone (SQLite statement atomicity); the others still commit.
    const outcomes: { ok: boolean; value: unknown }[] = [];
    try {
      this.#db.transaction(() => {
        for (const op of batch) {
          try {
            outcomes.push({ ok: true, value: op.work() });
          } catch (err) {
            outcomes.push({ ok: false, value: err });
          }
        }
      })();
    } catch (err) {
      for (const op of batch) op.reject(err);
      return;
    }
    batch.forEach((op, i) => (outcomes[i]!.ok ? op.resolve(outcomes[i]!.value) : op.reject(outcomes[i]!.value)));
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

  async createAgent(agent: NewAgent): Promise<void> {
    this.#stmt.insertAgent.run(agent.id, agent.secretHash, agent.hostname, JSON.stringify(agent.labels), agent.enrolledAt, JSON.stringify(agent.reportedLabels ?? {}));
  }

  async findAgent(id: string): Promise<AgentRecord | undefined> {
    const row = this.#stmt.findAgent.get(id) as Row | undefined;
    return row && toAgent(row);
  }

  async listAgents(filter: AgentFilter): Promise<AgentRecord[]> {
    return (this.#stmt.listAgents.all() as Row[]).map(toAgent).filter((a) => matchesFilter(a, filter));
  }

  async updateAgent(id: string, patch: AgentPatch): Promise<void> {
    const keys = Object.keys(patch) as (keyof AgentPatch)[];
    if (keys.length === 0) return;
    const sets = keys.map((k) => `${AGENT_COLUMNS[k]} = @${k}`).join(", ");
    const values: Row = { id };
    for (const k of keys) values[k] = toColumnValue(patch[k]);
    const stmt = this.#patchStatement(sets);
    await this.#write(() => stmt.run(values));
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
    await this.#write(() => this.#stmt.recordPresence.run(json, replicaId));
  }

  async revokeAgent(id: string, at: number): Promise<boolean> {
    return this.#stmt.revokeAgent.run(at, id).changes > 0;
  }

  async markOffline(replicaId: string | null): Promise<void> {
    if (replicaId === null) this.#stmt.markAllOffline.run();
    else this.#stmt.markReplicaOffline.run(replicaId);
  }

  async insertAudit(row: NewAudit): Promise<void> {
    await this.#write(() => this.#stmt.insertAudit.run({ ...row, fanoutId: row.fanoutId ?? null, replicaId: row.replicaId ?? null }));
  }

  async finishAudit(correlationId: string, finish: AuditFinish): Promise<void> {
    const values = { ...finish, correlationId, resultTruncated: finish.resultTruncated ? 1 : 0, resultSeq: finish.resultSeq ?? null };
    await this.#write(() => this.#stmt.finishAudit.run(values));
  }

  async listAudit(query: AuditQuery): Promise<AuditRecord[]> {
    const rows = this.#stmt.listAudit.all({
      agentId: query.agentId ?? null,
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

  async appendEvents(events: NewHubEvent[]): Promise<HubEventRecord[]> {
    return this.#write(() => events.map((e) => ({ ...e, seq: Number(this.#stmt.insertEvent.run(e.type, JSON.stringify(e.data), e.createdAt).lastInsertRowid) })));
  }

  async listEvents(afterSeq: number, limit: number): Promise<HubEventRecord[]> {
    return (this.#stmt.listEvents.all(afterSeq, limit) as Row[]).map((r) => ({
      seq: r.seq as number,
      type: r.type as HubEventRecord["type"],
      data: JSON.parse(r.data as string) as Record<string, unknown>,
      createdAt: r.created_at as number,
    }));
  }

  /** One transaction: the process is the only writer, so reading then updating cannot race. */
  async closeOpenWork(replicaId: string | null, closeOut: CloseOut): Promise<ClosedWork> {
    // Writes queued for the group commit go first, so a command inserted this turn is seen as open.
    clearImmediate(this.#flush);
    this.#commitQueued();
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
    return this.#write(() => {
      if (this.#stmt.claimIdempotencyKey.run({ ...claim, now }).changes > 0) return undefined;
      return toIdempotency(this.#stmt.findIdempotencyKey.get(claim.key) as Row);
    });
  }

  async completeIdempotencyKey(key: string, owner: string, response: string, expiresAt: number): Promise<boolean> {
    return this.#write(() => this.#stmt.completeIdempotencyKey.run(response, expiresAt, key, owner).changes > 0);
  }

  async releaseIdempotencyKey(key: string, owner: string): Promise<void> {
    await this.#write(() => this.#stmt.releaseIdempotencyKey.run(key, owner));
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

function toIdempotency(r: Row): IdempotencyRecord {
  return {
    key: r.key as string,
    requester: r.requester as string,
    fingerprint: r.fingerprint as string,
    owner: r.owner as string,
    state: r.state as IdempotencyRecord["state"],
    createdAt: r.created_at as number,
    expiresAt: r.expires_at as number,
    response: (r.response as string | null) ?? null,
  };
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

function toFanout(r: Row): FanoutRecord {
  return {
    id: r.id as string,
    query: r.query as string,
    collector: r.collector as string,
    requester: r.requester as string,
    requestId: (r.request_id as string | null) ?? null,
    timeoutMs: r.timeout_ms as number,
    targetCount: r.target_count as number,
    createdAt: r.created_at as number,
    finishedAt: (r.finished_at as number | null) ?? null,
  };
}

function toColumnValue(value: unknown): unknown {
  if (value === undefined) return null;
  if (value !== null && typeof value === "object") return JSON.stringify(value);
  return value;
}

/** True when the agent matches every condition of the filter. */
export function matchesFilter(agent: AgentRecord, filter: AgentFilter): boolean {
  if (filter.status !== undefined && agent.status !== filter.status) return false;
  for (const [k, v] of Object.entries(filter.labels ?? {})) if (agent.labels[k] !== v) return false;
  return true;
}

function toToken(r: Row): TokenRecord {
  return {
    id: r.id as string,
    kind: r.kind as TokenRecord["kind"],
    scope: (r.scope as TokenRecord["scope"]) ?? null,
    name: r.name as string,
    secretHash: r.secret_hash as string,
    createdAt: r.created_at as number,
    expiresAt: (r.expires_at as number | null) ?? null,
    revokedAt: (r.revoked_at as number | null) ?? null,
    labels: r.labels === null || r.labels === undefined ? null : (JSON.parse(r.labels as string) as Record<string, string>),
    maxUses: (r.max_uses as number | null) ?? null,
    uses: (r.uses as number | undefined) ?? 0,
  };
}

function toAgent(r: Row): AgentRecord {
  return {
    id: r.id as string,
    secretHash: r.secret_hash as string,
    hostname: r.hostname as string,
    labels: JSON.parse(r.labels as string) as Record<string, string>,
    reportedLabels: JSON.parse(r.reported_labels as string) as Record<string, string>,
    status: r.status as AgentRecord["status"],
    protocol: (r.protocol as number | null) ?? null,
    agentVersion: (r.agent_version as string | null) ?? null,
    platform: (r.platform as string | null) ?? null,
    arch: (r.arch as string | null) ?? null,
    enrolledAt: r.enrolled_at as number,
    connectedAt: (r.connected_at as number | null) ?? null,
    lastSeenAt: (r.last_seen_at as number | null) ?? null,
    lastHealth: r.last_health === null ? null : (JSON.parse(r.last_health as string) as AgentRecord["lastHealth"]),
    replicaId: (r.replica_id as string | null) ?? null,
    revokedAt: (r.revoked_at as number | null) ?? null,
    legacyShapes: r.legacy_shapes == null ? null : (JSON.parse(r.legacy_shapes as string) as string[]),
  };
}

function toAudit(r: Row): AuditRecord {
  return {
    seq: r.seq as number,
    correlationId: r.correlation_id as string,
    fanoutId: (r.fanout_id as string | null) ?? null,
    resultSeq: (r.result_seq as number | null) ?? null,
    agentId: r.agent_id as string,
    requester: r.requester as string,
    sessionId: r.session_id as string,
    requestId: (r.request_id as string | null) ?? null,
    collector: r.collector as string,
    query: r.query as string,
    status: r.status as AuditRecord["status"],
    createdAt: r.created_at as number,
    finishedAt: (r.finished_at as number | null) ?? null,
    durationMs: (r.duration_ms as number | null) ?? null,
    errorCode: (r.error_code as string | null) ?? null,
    errorMessage: (r.error_message as string | null) ?? null,
    result: r.result === null ? null : JSON.parse(r.result as string),
    resultTruncated: r.result_truncated === 1,
  };
}
