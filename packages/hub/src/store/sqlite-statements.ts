import type Database from "better-sqlite3";
import { AGENT_RECORD_COLUMNS } from "./sqlite-rows.js";
import type { AgentPatch } from "./store.js";

/** Column of `agents` for each patchable field. */
export const AGENT_COLUMNS: Record<keyof AgentPatch, string> = {
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

/**
 * True when the agent's labels hold every pair of `@labels` (a JSON object; '{}' matches every agent without
 * reading its labels).
 */
const LABELS_MATCH = `(@labels = '{}' OR NOT EXISTS (SELECT 1 FROM json_each(@labels) AS f
       WHERE NOT EXISTS (SELECT 1 FROM json_each(agents.labels) AS l WHERE l.key = f.key AND l.value = f.value)))`;

/** Select list of a DestinationRecord (store.ts), aliased to its field names. */
const DESTINATION = `id, kind, url, secret, path, created_at AS createdAt, delivered_seq AS cursor, last_error AS lastError,
  last_error_at AS lastErrorAt, claimed_by AS claimedBy, lease_until AS leaseUntil`;

/** The embedded store's fixed statements, by name. */
const SQL = {
  insertToken: `INSERT INTO tokens (id, kind, scope, name, secret_hash, created_at, expires_at, revoked_at, labels, max_uses, uses)
     VALUES (@id, @kind, @scope, @name, @secretHash, @createdAt, @expiresAt, @revokedAt, @labels, @maxUses, @uses)`,
  findToken: `SELECT * FROM tokens WHERE id = ?`,
  listTokens: `SELECT * FROM tokens ORDER BY created_at, id`,
  revokeToken: `UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`,
  consumeEnrollToken: `UPDATE tokens SET uses = uses + 1 WHERE id = @id AND kind = 'enroll' AND revoked_at IS NULL
       AND (expires_at IS NULL OR expires_at > @now) AND (max_uses IS NULL OR uses < max_uses)`,
  insertAgent: `INSERT INTO agents (id, secret_hash, hostname, labels, enrolled_at, reported_labels) VALUES (?, ?, ?, ?, ?, ?)`,
  findAgent: `SELECT * FROM agents WHERE id = ?`,
  // Every column but the health samples, which only an agent's own page reads (findAgent); a raw statement.
  listAgents: `SELECT ${AGENT_RECORD_COLUMNS.join(", ")} FROM agents WHERE revoked_at IS NULL ORDER BY hostname, id`,
  // A page of the list: an index range of agents_list_order (migration 9) from the key after `after`,
  // each row checked against the filter (`@labels`: a JSON object whose every pair the agent's labels hold).
  listAgentsFirst: `SELECT ${AGENT_RECORD_COLUMNS.join(", ")} FROM agents INDEXED BY agents_list_order
     WHERE revoked_at IS NULL AND (@status IS NULL OR status = @status) AND ${LABELS_MATCH}
     ORDER BY hostname, id LIMIT @limit`,
  listAgentsAfter: `SELECT ${AGENT_RECORD_COLUMNS.join(", ")} FROM agents INDEXED BY agents_list_order
     WHERE revoked_at IS NULL AND (hostname, id) > (@hostname, @id) AND (@status IS NULL OR status = @status) AND ${LABELS_MATCH}
     ORDER BY hostname, id LIMIT @limit`,
  countAgents: `SELECT status, COUNT(*) AS n FROM agents WHERE revoked_at IS NULL AND ${LABELS_MATCH} GROUP BY status`,
  listAgentIds: `SELECT id FROM agents WHERE revoked_at IS NULL ORDER BY hostname, id`,
  // A presence flush: the rows go in as one JSON array, read by one UPDATE of the agents' rows and one
  // multi-row INSERT of their health samples, in one transaction (older samples are never rewritten).
  recordPresence: `UPDATE agents SET last_seen_at = MAX(COALESCE(agents.last_seen_at, 0), v.seen), last_health = COALESCE(v.health, agents.last_health)
     FROM (SELECT value ->> 'id' AS id, value ->> 'lastSeenAt' AS seen, value ->> 'lastHealth' AS health FROM json_each(?)) AS v
     WHERE agents.id = v.id AND agents.replica_id = ?`,
  appendHealthSamples: `INSERT INTO agent_health_samples (agent_id, at, status, load1, mem_free, mem_total, inflight)
     SELECT a.id, v.value ->> 'lastSeenAt', v.value ->> '$.lastHealth.status', v.value ->> '$.lastHealth.load1',
       v.value ->> '$.lastHealth.memFreeBytes', v.value ->> '$.lastHealth.memTotalBytes', v.value ->> '$.lastHealth.inflight'
     FROM json_each(?) AS v JOIN agents AS a ON a.id = v.value ->> 'id' AND a.replica_id = ?
     WHERE v.value ->> '$.lastHealth.status' IS NOT NULL`,
  listHealthSamples: `SELECT at, status, load1, mem_free AS memFreeBytes, mem_total AS memTotalBytes, inflight
     FROM agent_health_samples WHERE agent_id = ? ORDER BY at DESC LIMIT ?`,
  insertSession: `INSERT INTO sessions (id, token_id, secret_hash, csrf_token, created_at, expires_at)
     VALUES (@id, @tokenId, @secretHash, @csrfToken, @createdAt, @expiresAt)`,
  findSession: `SELECT * FROM sessions WHERE id = ?`,
  deleteSession: `DELETE FROM sessions WHERE id = ?`,
  deleteTokenSessions: `DELETE FROM sessions WHERE token_id = ?`,
  pruneSessions: `DELETE FROM sessions WHERE expires_at <= ?`,
  revokeAgent: `UPDATE agents SET revoked_at = ?, status = 'offline' WHERE id = ? AND revoked_at IS NULL`,
  markAllOffline: `UPDATE agents SET status = 'offline' WHERE status != 'offline'`,
  markReplicaOffline: `UPDATE agents SET status = 'offline' WHERE replica_id = ? AND status != 'offline'`,
  insertAudit: `INSERT INTO query_audit (correlation_id, fanout_id, replica_id, agent_id, requester, session_id, request_id, collector, query, status, created_at)
     VALUES (@correlationId, @fanoutId, @replicaId, @agentId, @requester, @sessionId, @requestId, @collector, @query, 'pending', @createdAt)`,
  finishAudit: `UPDATE query_audit SET status = @status, finished_at = @finishedAt, duration_ms = @durationMs,
       error_code = @errorCode, error_message = @errorMessage, result = @resultJson, result_truncated = @resultTruncated,
       result_seq = @resultSeq
     WHERE correlation_id = @correlationId AND status = 'pending'`,
  findAudit: `SELECT * FROM query_audit WHERE correlation_id = ?`,
  insertFanout: `INSERT INTO fanouts (id, query, collector, requester, request_id, timeout_ms, target_count, created_at, replica_id)
     VALUES (@id, @query, @collector, @requester, @requestId, @timeoutMs, @targetCount, @createdAt, @replicaId)`,
  finishFanout: `UPDATE fanouts SET finished_at = ? WHERE id = ?`,
  findFanout: `SELECT * FROM fanouts WHERE id = ?`,
  listFanoutTargets: `SELECT * FROM query_audit WHERE fanout_id = ? ORDER BY result_seq IS NULL, result_seq, seq`,
  listFanoutResults: `SELECT * FROM query_audit WHERE fanout_id = ? AND result_seq > ? ORDER BY result_seq`,
  // Both read query_audit_fanout_agent (migration 11): a range of it, and its status column alone.
  listFanoutTargetPage: `SELECT agent_id, correlation_id, status, result, error_code, error_message, duration_ms, result_seq
    FROM query_audit INDEXED BY query_audit_fanout_agent
    WHERE fanout_id = @id AND agent_id > @after ORDER BY agent_id LIMIT @limit`,
  countFanoutTargets: `SELECT status, COUNT(*) AS n FROM query_audit INDEXED BY query_audit_fanout_agent WHERE fanout_id = ? GROUP BY status`,
  insertEvent: `INSERT INTO events (type, data, created_at) VALUES (?, ?, ?)`,
  listEvents: `SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?`,
  claimIdempotencyKey: `INSERT INTO idempotency_keys (key, requester, fingerprint, owner, state, created_at, expires_at, response)
     VALUES (@key, @requester, @fingerprint, @owner, 'running', @createdAt, @expiresAt, NULL)
     ON CONFLICT (key) DO UPDATE SET requester = excluded.requester, fingerprint = excluded.fingerprint, owner = excluded.owner,
       state = 'running', created_at = excluded.created_at, expires_at = excluded.expires_at, response = NULL
       WHERE idempotency_keys.expires_at <= @now`,
  completeIdempotencyKey: `UPDATE idempotency_keys SET state = 'done', response = ?, expires_at = ? WHERE key = ? AND owner = ? AND state = 'running'`,
  releaseIdempotencyKey: `DELETE FROM idempotency_keys WHERE key = ? AND owner = ? AND state = 'running'`,
  findIdempotencyKey: `SELECT * FROM idempotency_keys WHERE key = ?`,
  pruneIdempotencyKeys: `DELETE FROM idempotency_keys WHERE expires_at <= ?`,
  dropIdempotencyClaims: `DELETE FROM idempotency_keys WHERE state = 'running'`,
  listOpenAudit: `SELECT correlation_id, agent_id, fanout_id FROM query_audit
     WHERE status = 'pending' AND (@replicaId IS NULL OR replica_id = @replicaId) ORDER BY seq`,
  maxResultSeq: `SELECT COALESCE(MAX(result_seq), 0) AS n FROM query_audit WHERE fanout_id = ?`,
  closeAudit: `UPDATE query_audit SET status = 'error', finished_at = @at, error_code = @code, error_message = @message, result_seq = @resultSeq
     WHERE correlation_id = @correlationId AND status = 'pending'`,
  listOpenFanouts: `SELECT id, target_count FROM fanouts WHERE finished_at IS NULL AND (@replicaId IS NULL OR replica_id = @replicaId) ORDER BY created_at, id`,
  openWorkOwners: `SELECT replica_id FROM query_audit WHERE status = 'pending' AND replica_id IS NOT NULL
     UNION SELECT replica_id FROM fanouts WHERE finished_at IS NULL AND replica_id IS NOT NULL`,
  revokedAmong: `SELECT id FROM agents WHERE revoked_at IS NOT NULL AND id IN (SELECT value FROM json_each(?))`,
  revokedSince: `SELECT id, revoked_seq FROM agents WHERE revoked_seq IS NOT NULL AND revoked_seq > ? ORDER BY revoked_seq LIMIT ?`,
  revocationCursor: `SELECT COALESCE(MAX(revoked_seq), 0) AS cursor FROM agents WHERE revoked_seq IS NOT NULL`,
  insertOutbox: `INSERT INTO destination_outbox (seq, type, data, created_at) VALUES (?, ?, ?, ?)`,
  listOutbox: `SELECT * FROM destination_outbox WHERE seq > ? ORDER BY seq LIMIT ?`,
  insertDestination: `INSERT INTO destinations (id, kind, url, secret, path, created_at, delivered_seq)
     VALUES (@id, @kind, @url, @secret, @path, @createdAt, (SELECT COALESCE(MAX(seq), 0) FROM events))`,
  findDestination: `SELECT ${DESTINATION} FROM destinations WHERE id = ?`,
  listDestinations: `SELECT ${DESTINATION} FROM destinations ORDER BY created_at, id`,
  deleteDestination: `DELETE FROM destinations WHERE id = ?`,
  claimDestination: `UPDATE destinations SET claimed_by = @replicaId, lease_until = @now + @leaseMs
     WHERE id = @id AND (claimed_by IS NULL OR claimed_by = @replicaId OR lease_until < @now)`,
  releaseDestinations: `UPDATE destinations SET claimed_by = NULL, lease_until = NULL WHERE @replicaId IS NULL OR claimed_by = @replicaId`,
  advanceDestination: `UPDATE destinations SET delivered_seq = MAX(delivered_seq, @seq), last_error = NULL, last_error_at = NULL
     WHERE id = @id AND claimed_by = @replicaId`,
  recordDestinationFailure: `UPDATE destinations SET last_error = @error, last_error_at = @at WHERE id = @id AND claimed_by = @replicaId`,
  destinationBacklog: `SELECT d.kind AS kind, COUNT(o.seq) AS n FROM destinations d JOIN destination_outbox o ON o.seq > d.delivered_seq GROUP BY d.kind`,
  pruneOutbox: `DELETE FROM destination_outbox WHERE seq IN (
       SELECT seq FROM destination_outbox
       WHERE seq <= COALESCE((SELECT MIN(delivered_seq) FROM destinations), (SELECT MAX(seq) FROM destination_outbox))
       ORDER BY seq LIMIT ?)`,
  listAudit: `SELECT * FROM query_audit WHERE (@agentId IS NULL OR agent_id = @agentId) AND (@status IS NULL OR status = @status)
       AND (@before IS NULL OR seq < @before)
     ORDER BY seq DESC LIMIT @limit`,
};

export type SqliteStatements = { readonly [K in keyof typeof SQL]: Database.Statement };

/** Statements that answer rows as arrays of values in column order (better-sqlite3's raw mode). */
const RAW: ReadonlySet<keyof typeof SQL> = new Set(["listAgents", "listAgentsFirst", "listAgentsAfter"]);
/** Statements answering one column, as plain values. */
const PLUCK: ReadonlySet<keyof typeof SQL> = new Set(["listAgentIds"]);

/** Prepares each fixed statement once, when the store opens. */
export function prepareStatements(db: Database.Database): SqliteStatements {
  return Object.fromEntries(
    Object.entries(SQL).map(([name, sql]) => {
      const statement = db.prepare(sql);
      const key = name as keyof typeof SQL;
      return [name, RAW.has(key) ? statement.raw(true) : PLUCK.has(key) ? statement.pluck(true) : statement];
    }),
  ) as SqliteStatements;
}
