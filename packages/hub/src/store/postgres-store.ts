import type { Pool, QueryResultRow } from "pg";
import { PostgresHistory } from "./postgres-history.js";
import { PostgresSchedules } from "./postgres-schedules.js";
import { openPool, withTransaction, type PostgresStoreOptions } from "./postgres-pool.js";
import { AGENT, AGENT_PATCH, AUDIT, SQL } from "./postgres-statements.js";
import type { HealthSampleRecord } from "./health-samples.js";
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

/** How long `ready()` waits for `SELECT 1` before answering false. */
const READY_TIMEOUT_MS = 2_000;

/**
 * The cluster store: PostgreSQL behind the same {@link Store} contract as the embedded SQLite store, shared
 * by every hub replica. Each method is one autocommit statement or one transaction, and resolves only
 * once it has committed.
 *
 * What cluster mode may rely on when several replicas write at once:
 * - every seq (audit `seq`, event `seq`) is assigned by the database: unique and increasing across
 *   replicas, never computed by a hub, but not contiguous (gaps are normal);
 * - event appends are serialised by an advisory lock held to commit, so events become visible in seq
 *   order: once `listEvents` has returned seq N, no event with a lower seq appears later (SSE replay
 *   by `Last-Event-ID` cannot skip one). Audit rows carry no such promise; their seq only pages history;
 * - `resultSeq` comes from the replica coordinating the fan-out; `listFanoutResults` and
 *   `listFanoutTargets` return rows in resultSeq order, whichever replica wrote them.
 */
export class PostgresStore implements Store {
  readonly #pool: Pool;
  /** Second half of the advisory lock keys: the schema, or "" for the server's default search_path. */
  readonly #lockScope: string;
  #closing: Promise<void> | undefined;
  readonly history: PostgresHistory;
  readonly schedules: PostgresSchedules;

  private constructor(pool: Pool, lockScope: string) {
    this.#pool = pool;
    this.#lockScope = lockScope;
    this.history = new PostgresHistory(pool);
    this.schedules = new PostgresSchedules(pool);
  }

  /** Connects to `url` (a `postgres://` connection string) and migrates; see {@link openPool}. */
  static async open(url: string, opts: PostgresStoreOptions = {}): Promise<PostgresStore> {
    return new PostgresStore(await openPool(url, opts), opts.schema ?? "");
  }

  /** Runs `SELECT 1`; false when closed or when the server does not answer within 2 s. Never throws. */
  async ready(): Promise<boolean> {
    if (this.#closing !== undefined) return false;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), READY_TIMEOUT_MS)));
    try {
      return await Promise.race([this.#pool.query("SELECT 1").then(() => true), late]);
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Ends the pool once statements in flight finish; idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#pool.end();
    return this.#closing;
  }

  async #query<R extends QueryResultRow>(name: keyof typeof SQL, values: unknown[]): Promise<{ rows: R[]; rowCount: number }> {
    const result = await this.#pool.query<R>({ name, text: SQL[name], values });
    return { rows: result.rows, rowCount: result.rowCount ?? 0 };
  }

  async createToken(t: TokenRecord): Promise<void> {
    await this.#query("insertToken", [t.id, t.kind, t.scope, t.name, t.secretHash, t.createdAt, t.expiresAt, t.revokedAt, t.labels === null ? null : JSON.stringify(t.labels), t.maxUses, t.uses]);
  }

  async findToken(id: string): Promise<TokenRecord | undefined> {
    return (await this.#query<TokenRecord>("findToken", [id])).rows[0];
  }

  async listTokens(): Promise<TokenRecord[]> {
    return (await this.#query<TokenRecord>("listTokens", [])).rows;
  }

  async revokeToken(id: string, at: number): Promise<boolean> {
    return (await this.#query("revokeToken", [id, at])).rowCount > 0;
  }

  async consumeEnrollToken(id: string, now: number): Promise<boolean> {
    return (await this.#query("consumeEnrollToken", [id, now])).rowCount > 0;
  }

  async createSession(x: SessionRecord): Promise<void> {
    await this.#query("insertSession", [x.id, x.tokenId, x.secretHash, x.csrfToken, x.createdAt, x.expiresAt]);
  }

  async findSession(id: string): Promise<SessionRecord | undefined> {
    return (await this.#query<SessionRecord>("findSession", [id])).rows[0];
  }

  async deleteSession(id: string): Promise<boolean> {
    return (await this.#query("deleteSession", [id])).rowCount > 0;
  }

  async deleteTokenSessions(tokenId: string): Promise<number> {
    return (await this.#query("deleteTokenSessions", [tokenId])).rowCount;
  }

  async pruneSessions(now: number): Promise<number> {
    return (await this.#query("pruneSessions", [now])).rowCount;
  }

  async createAgent(agent: NewAgent): Promise<void> {
    await this.#query("insertAgent", [agent.id, agent.secretHash, agent.hostname, JSON.stringify(agent.labels), agent.enrolledAt, JSON.stringify(agent.reportedLabels ?? {})]);
  }

  async findAgent(id: string): Promise<AgentRecord | undefined> {
    return (await this.#query<AgentRecord>("findAgent", [id])).rows[0];
  }

  /** Filters in SQL; `labels @> filter` is the GIN-indexed "every pair matches". */
  async listAgents(filter: AgentFilter): Promise<AgentRecord[]> {
    const values: unknown[] = [];
    const where = ["revoked_at IS NULL"];
    if (filter.status !== undefined) where.push(`status = $${values.push(filter.status)}`);
    if (filter.labels !== undefined) where.push(`labels @> $${values.push(JSON.stringify(filter.labels))}::jsonb`);
    const text = `SELECT ${AGENT} FROM agents WHERE ${where.join(" AND ")} ORDER BY hostname COLLATE "C", id COLLATE "C"`;
    return (await this.#pool.query<AgentRecord>(text, values)).rows;
  }

  /** An index range of agents_list_order (migration 8) from the key after `after`. */
  async listAgentsPage(query: AgentPageQuery): Promise<AgentRecord[]> {
    const values: unknown[] = [];
    const where = ["revoked_at IS NULL"];
    if (query.status !== undefined) where.push(`status = $${values.push(query.status)}`);
    if (query.labels !== undefined) where.push(`labels @> $${values.push(JSON.stringify(query.labels))}::jsonb`);
    if (query.after !== null) where.push(`(hostname COLLATE "C", id COLLATE "C") > ($${values.push(query.after.hostname)}, $${values.push(query.after.id)})`);
    const text = `SELECT ${AGENT} FROM agents WHERE ${where.join(" AND ")} ORDER BY hostname COLLATE "C", id COLLATE "C" LIMIT $${values.push(query.limit)}`;
    return (await this.#pool.query<AgentRecord>(text, values)).rows;
  }

  async countAgents(labels: Record<string, string>): Promise<AgentCounts> {
    const counts: AgentCounts = { online: 0, unresponsive: 0, offline: 0 };
    for (const r of (await this.#query<{ status: keyof AgentCounts; n: number }>("countAgents", [JSON.stringify(labels)])).rows) counts[r.status] = r.n;
    return counts;
  }

  async listHealthSamples(agentId: string, limit: number): Promise<HealthSampleRecord[]> {
    return (await this.#query<HealthSampleRecord>("listHealthSamples", [agentId, limit])).rows.reverse();
  }

  async listAgentIds(filter: Pick<AgentFilter, "labels">): Promise<string[]> {
    const labels = filter.labels === undefined ? null : JSON.stringify(filter.labels);
    return (await this.#query<{ id: string }>("listAgentIds", [labels])).rows.map((r) => r.id);
  }

  /** Sets exactly the patch's keys; column names come from a fixed whitelist, values are always parameters. */
  async updateAgent(id: string, patch: AgentPatch): Promise<void> {
    const values: unknown[] = [id];
    const sets = Object.entries(patch).map(([key, value]) => {
      if (!Object.hasOwn(AGENT_PATCH, key)) throw new RangeError(`not a patchable agent field: ${key}`);
      const n = values.push(value === undefined ? null : typeof value === "object" && value !== null ? JSON.stringify(value) : value);
      const [column, cast] = AGENT_PATCH[key as keyof AgentPatch];
      return `${column} = $${n}${cast}`;
    });
    if (sets.length === 0) return;
    await this.#pool.query(`UPDATE agents SET ${sets.join(", ")} WHERE id = $1`, values);
  }

  async recordPresence(replicaId: string, rows: PresenceRow[]): Promise<void> {
    if (rows.length === 0) return;
    const health = rows.map((r) => (r.lastHealth === null ? null : JSON.stringify(r.lastHealth)));
    await this.#query("recordPresence", [replicaId, rows.map((r) => r.id), rows.map((r) => r.lastSeenAt), health]);
  }

  async revokeAgent(id: string, at: number): Promise<boolean> {
    return (await this.#query("revokeAgent", [id, at])).rowCount > 0;
  }

  async markOffline(replicaId: string | null): Promise<void> {
    if (replicaId === null) await this.#query("markAllOffline", []);
    else await this.#query("markReplicaOffline", [replicaId]);
  }

  async insertAudit(r: NewAudit): Promise<void> {
    await this.#query("insertAudit", [r.correlationId, r.fanoutId ?? null, r.agentId, r.requester, r.sessionId, r.requestId, r.collector, r.query, r.createdAt, r.replicaId ?? null]);
  }

  async finishAudit(correlationId: string, f: AuditFinish): Promise<void> {
    await this.#query("finishAudit", [
      correlationId, f.status, f.finishedAt, f.durationMs, f.errorCode, f.errorMessage, f.resultJson, f.resultTruncated, f.resultSeq ?? null,
    ]);
  }

  async listAudit(query: AuditQuery): Promise<AuditRecord[]> {
    const values: unknown[] = [];
    const where: string[] = [];
    if (query.agentId !== undefined) where.push(`agent_id = $${values.push(query.agentId)}`);
    if (query.status !== undefined) where.push(`status = $${values.push(query.status)}`);
    if (query.before !== undefined) where.push(`seq < $${values.push(query.before)}`);
    const filter = where.length === 0 ? "" : `WHERE ${where.join(" AND ")}`;
    const text = `SELECT ${AUDIT} FROM query_audit ${filter} ORDER BY seq DESC LIMIT $${values.push(query.limit)}`;
    return (await this.#pool.query<AuditRecord>(text, values)).rows;
  }

  async findAudit(correlationId: string): Promise<AuditRecord | undefined> {
    return (await this.#query<AuditRecord>("findAudit", [correlationId])).rows[0];
  }

  async createFanout(f: NewFanout, targets: NewAudit[]): Promise<void> {
    await withTransaction(this.#pool, async (client) => {
      await client.query({ name: "insertFanout", text: SQL.insertFanout, values: [f.id, f.query, f.collector, f.requester, f.requestId, f.timeoutMs, f.targetCount, f.createdAt, f.replicaId ?? null] });
      if (targets.length === 0) return;
      const column = <K extends keyof NewAudit>(key: K) => targets.map((t) => t[key] ?? null);
      const values = [f.id, column("correlationId"), column("agentId"), column("requester"), column("sessionId"), column("requestId"), column("collector"), column("query"), column("createdAt"), f.replicaId ?? null];
      await client.query({ name: "insertTargets", text: SQL.insertTargets, values });
    });
  }

  async finishFanout(id: string, finishedAt: number): Promise<void> {
    await this.#query("finishFanout", [id, finishedAt]);
  }

  async findFanout(id: string): Promise<FanoutRecord | undefined> {
    return (await this.#query<FanoutRecord>("findFanout", [id])).rows[0];
  }

  async listFanoutTargets(id: string): Promise<AuditRecord[]> {
    return (await this.#query<AuditRecord>("listFanoutTargets", [id])).rows;
  }

  /** Landed results after `afterResultSeq`, ordered by resultSeq (not by which replica wrote first). */
  async listFanoutResults(id: string, afterResultSeq: number): Promise<AuditRecord[]> {
    return (await this.#query<AuditRecord>("listFanoutResults", [id, afterResultSeq])).rows;
  }

  async listFanoutTargetPage(id: string, afterAgentId: string | null, limit: number): Promise<FanoutTargetRecord[]> {
    // '' sorts before every agent id (they are never empty), so the first page is the same range read.
    return (await this.#query<FanoutTargetRecord>("listFanoutTargetPage", [id, afterAgentId ?? "", limit])).rows;
  }

  async countFanoutTargets(id: string): Promise<Partial<Record<QueryStatus, number>>> {
    const rows = (await this.#query<{ status: QueryStatus; n: number }>("countFanoutTargets", [id])).rows;
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }

  /**
   * Inserts the batch in one statement under the events lock, so its seqs are consecutive values of the
   * sequence, in list order, and commit in seq order across replicas (see the class comment).
   */
  async appendEvents(events: NewHubEvent[], outboxTypes: readonly HubEventType[] = []): Promise<HubEventRecord[]> {
    if (events.length === 0) return [];
    const toOutbox = outboxTypes.filter((t) => events.some((e) => e.type === t));
    const seqs = await withTransaction(this.#pool, async (client) => {
      await client.query({ name: "lockEvents", text: SQL.lockEvents, values: [this.#lockScope] });
      const values = [events.map((e) => e.type), events.map((e) => JSON.stringify(e.data)), events.map((e) => e.createdAt)];
      const { rows } = await client.query<{ seq: number }>({ name: "insertEvents", text: SQL.insertEvents, values });
      // SQL does not promise RETURNING order; seqs were drawn in list order, so sorting restores it.
      const seqs = rows.map((r) => r.seq).sort((a, b) => a - b);
      // The outbox copy commits with the event, or neither does.
      if (toOutbox.length > 0) await client.query({ name: "insertOutbox", text: SQL.insertOutbox, values: [seqs, toOutbox] });
      return seqs;
    });
    return events.map((e, i) => ({ ...e, seq: seqs[i]! }));
  }

  async listEvents(afterSeq: number, limit: number): Promise<HubEventRecord[]> {
    return (await this.#query<HubEventRecord>("listEvents", [afterSeq, limit])).rows;
  }

  async listOutbox(afterSeq: number, limit: number): Promise<HubEventRecord[]> {
    return (await this.#query<HubEventRecord>("listOutbox", [afterSeq, limit])).rows;
  }

  /** Under the destinations lock, so a prune of the outbox never runs between reading the newest seq and inserting. */
  async createDestination(d: NewDestination): Promise<DestinationRecord> {
    return withTransaction(this.#pool, async (client) => {
      await client.query({ name: "lockDestinations", text: SQL.lockDestinations, values: [this.#lockScope] });
      const values = [d.id, d.kind, d.url, d.secret, d.path, d.createdAt];
      return (await client.query<DestinationRecord>({ name: "insertDestination", text: SQL.insertDestination, values })).rows[0]!;
    });
  }

  async findDestination(id: string): Promise<DestinationRecord | undefined> {
    return (await this.#query<DestinationRecord>("findDestination", [id])).rows[0];
  }

  async listDestinations(): Promise<DestinationRecord[]> {
    return (await this.#query<DestinationRecord>("listDestinations", [])).rows;
  }

  async deleteDestination(id: string): Promise<boolean> {
    return (await this.#query("deleteDestination", [id])).rowCount > 0;
  }

  /** The lease is measured by the database's clock, the same for every replica. */
  async claimDestination(id: string, replicaId: string, leaseMs: number): Promise<boolean> {
    return (await this.#query("claimDestination", [id, replicaId, leaseMs])).rowCount > 0;
  }

  async releaseDestinations(replicaId: string | null): Promise<void> {
    await this.#query("releaseDestinations", [replicaId]);
  }

  async advanceDestination(id: string, replicaId: string, seq: number): Promise<boolean> {
    return (await this.#query("advanceDestination", [id, replicaId, seq])).rowCount > 0;
  }

  async recordDestinationFailure(id: string, replicaId: string, error: string, at: number): Promise<boolean> {
    return (await this.#query("recordDestinationFailure", [id, replicaId, error, at])).rowCount > 0;
  }

  async destinationBacklog(): Promise<Record<DestinationKind, number>> {
    const backlog: Record<DestinationKind, number> = { webhook: 0, file: 0 };
    for (const r of (await this.#query<{ kind: DestinationKind; n: number }>("destinationBacklog", [])).rows) backlog[r.kind] = r.n;
    return backlog;
  }

  /** Under the destinations lock (see {@link createDestination}). */
  async pruneOutbox(limit: number): Promise<number> {
    return withTransaction(this.#pool, async (client) => {
      await client.query({ name: "lockDestinations", text: SQL.lockDestinations, values: [this.#lockScope] });
      return (await client.query({ name: "pruneOutbox", text: SQL.pruneOutbox, values: [limit] })).rowCount ?? 0;
    });
  }

  /**
   * Insert-or-replace-if-expired in one statement, so two replicas claiming the same key at once cannot
   * both win. The loser reads the holder; should that record vanish in between (pruned, released), it
   * claims again.
   */
  async claimIdempotencyKey(c: IdempotencyClaim, now: number): Promise<IdempotencyRecord | undefined> {
    for (let attempt = 1; ; attempt++) {
      const { rowCount } = await this.#query("claimIdempotencyKey", [c.key, c.requester, c.fingerprint, c.owner, c.createdAt, c.expiresAt, now]);
      if (rowCount > 0) return undefined;
      const held = (await this.#query<IdempotencyRecord>("findIdempotencyKey", [c.key])).rows[0];
      if (held !== undefined) return held;
      // Claimed and dropped again between the two statements, repeatedly: say so rather than spin.
      if (attempt === 5) throw new Error(`idempotency key ${JSON.stringify(c.key)} kept changing hands; retry`);
    }
  }

  async completeIdempotencyKey(key: string, owner: string, response: string, expiresAt: number): Promise<boolean> {
    return (await this.#query("completeIdempotencyKey", [key, owner, response, expiresAt])).rowCount > 0;
  }

  async releaseIdempotencyKey(key: string, owner: string): Promise<void> {
    await this.#query("releaseIdempotencyKey", [key, owner]);
  }

  async findIdempotencyKey(key: string): Promise<IdempotencyRecord | undefined> {
    return (await this.#query<IdempotencyRecord>("findIdempotencyKey", [key])).rows[0];
  }

  async pruneIdempotencyKeys(now: number): Promise<number> {
    return (await this.#query("pruneIdempotencyKeys", [now])).rowCount;
  }

  async dropIdempotencyClaims(): Promise<void> {
    await this.#query("dropIdempotencyClaims", []);
  }

  /**
   * One transaction under the close-out lock, so survivors closing out the same dead replica run one
   * after the other: the second finds nothing pending left (each UPDATE also re-checks `pending`).
   */
  async closeOpenWork(replicaId: string | null, closeOut: CloseOut): Promise<ClosedWork> {
    return withTransaction(this.#pool, async (client) => {
      await client.query({ name: "lockCloseOut", text: SQL.lockCloseOut, values: [this.#lockScope] });
      const audit = await client.query<{ correlationId: string; agentId: string; fanoutId: string | null }>({
        name: "closeOpenAudit",
        text: SQL.closeOpenAudit,
        values: [replicaId, closeOut.at, closeOut.code, closeOut.message],
      });
      const fanouts = await client.query<{ id: string; targetCount: number }>({ name: "closeOpenFanouts", text: SQL.closeOpenFanouts, values: [replicaId, closeOut.at] });
      return {
        commands: audit.rows.filter((r) => r.fanoutId === null).map(({ correlationId, agentId }) => ({ correlationId, agentId })),
        fanouts: fanouts.rows,
      };
    });
  }

  async openWorkOwners(): Promise<string[]> {
    return (await this.#query<{ replicaId: string }>("openWorkOwners", [])).rows.map((r) => r.replicaId);
  }

  async revokedAmong(agentIds: string[]): Promise<string[]> {
    if (agentIds.length === 0) return [];
    return (await this.#query<{ id: string }>("revokedAmong", [agentIds])).rows.map((r) => r.id);
  }

  /**
   * Revocations commit in seq order (migration 7's trigger draws the seq under a lock held to commit), so
   * no revocation with a lower seq than one returned here can commit later.
   */
  async revokedSince(cursor: number, limit: number): Promise<{ agentIds: string[]; cursor: number }> {
    const { rows } = await this.#query<{ id: string; seq: number }>("revokedSince", [cursor, limit]);
    return { agentIds: rows.map((r) => r.id), cursor: rows.at(-1)?.seq ?? cursor };
  }

  async revocationCursor(): Promise<number> {
    return (await this.#query<{ cursor: number }>("revocationCursor", [])).rows[0]!.cursor;
  }
}
