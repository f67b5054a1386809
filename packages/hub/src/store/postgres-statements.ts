import type { AgentPatch, AgentRecord, AuditRecord, DestinationRecord, FanoutRecord, HubEventRecord, IdempotencyRecord, TokenRecord } from "./store.js";

// The SQL text of PostgresStore (postgres-store.ts), kept apart so the store reads as behaviour.

// Advisory lock keys are (one of these, hashtext(schema)), so stores on different schemas never contend.
/** First half of the advisory lock key held while migrating. */
export const MIGRATION_LOCK = 0x75706c01;
/** First half of the advisory lock key held by each event append until it commits. */
export const EVENTS_LOCK = 0x75706c02;
/** First half of the advisory lock key held by each close-out of open work until it commits. */
export const CLOSEOUT_LOCK = 0x75706c03;
/** First half of the advisory lock key held by a destination's creation and each outbox prune, so neither sees the other half done. */
export const DESTINATIONS_LOCK = 0x75706c05;
/** First half of the advisory lock key held by each agent revocation until it commits (migration 7's trigger). */
export const REVOCATIONS_LOCK = 0x75706c04;

// Select lists aliased to the records' field names: the pool already turns BIGINT (see int8AsNumber in
// postgres-store.ts), BOOLEAN, DOUBLE PRECISION, JSON and JSONB into the JS values a record holds, so
// rows are records as they come, with no mapping code to drift from the schema.
/** Select list of a {@link TokenRecord}. */
export const TOKEN = `id, kind, scope, name, secret_hash AS "secretHash", created_at AS "createdAt",
  expires_at AS "expiresAt", revoked_at AS "revokedAt", labels, max_uses AS "maxUses", uses`;
/** Select list of an {@link AgentRecord}. */
export const AGENT = `id, secret_hash AS "secretHash", hostname, labels, reported_labels AS "reportedLabels", status, protocol, agent_version AS "agentVersion",
  platform, arch, enrolled_at AS "enrolledAt", connected_at AS "connectedAt", last_seen_at AS "lastSeenAt",
  last_health AS "lastHealth", replica_id AS "replicaId", revoked_at AS "revokedAt", legacy_shapes AS "legacyShapes"`;
/** Select list of a {@link SessionRecord}. */
export const SESSION = `id, token_id AS "tokenId", secret_hash AS "secretHash", csrf_token AS "csrfToken", created_at AS "createdAt", expires_at AS "expiresAt"`;
/** Select list of an {@link AuditRecord}. */
export const AUDIT = `seq, correlation_id AS "correlationId", fanout_id AS "fanoutId", result_seq AS "resultSeq",
  agent_id AS "agentId", requester, session_id AS "sessionId", request_id AS "requestId", collector, query, status,
  created_at AS "createdAt", finished_at AS "finishedAt", duration_ms AS "durationMs", error_code AS "errorCode",
  error_message AS "errorMessage", result, result_truncated AS "resultTruncated"`;
/** Select list of a {@link FanoutTargetRecord}. */
export const FANOUT_TARGET = `agent_id AS "agentId", correlation_id AS "correlationId", status, result, error_code AS "errorCode",
  error_message AS "errorMessage", duration_ms AS "durationMs", result_seq AS "resultSeq"`;
/** Select list of a {@link FanoutRecord}. */
export const FANOUT = `id, query, collector, requester, request_id AS "requestId", timeout_ms AS "timeoutMs",
  target_count AS "targetCount", created_at AS "createdAt", finished_at AS "finishedAt", replica_id AS "replicaId"`;
/** Select list of an {@link IdempotencyRecord}. */
export const IDEMPOTENCY = `key, requester, fingerprint, owner, state, created_at AS "createdAt", expires_at AS "expiresAt", response`;
/** Select list of a {@link DestinationRecord}. */
export const DESTINATION = `id, kind, url, secret, path, created_at AS "createdAt", delivered_seq AS "cursor", last_error AS "lastError",
  last_error_at AS "lastErrorAt", claimed_by AS "claimedBy", lease_until AS "leaseUntil"`;
/** The database's clock in epoch ms: every replica's lease is measured by the same clock. */
const DB_NOW = `(extract(epoch FROM clock_timestamp()) * 1000)::bigint`;
/** Select list of a {@link HubEventRecord}. */
export const EVENT = `seq, type, data, created_at AS "createdAt"`;

/**
 * The fixed statements, each prepared once per connection under its key (pg named statements).
 * Text columns sort with `COLLATE "C"`: byte order, as SQLite's BINARY, whatever the database's locale.
 */
export const SQL = {
  insertToken: `INSERT INTO tokens (id, kind, scope, name, secret_hash, created_at, expires_at, revoked_at, labels, max_uses, uses)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11)`,
  findToken: `SELECT ${TOKEN} FROM tokens WHERE id = $1`,
  listTokens: `SELECT ${TOKEN} FROM tokens ORDER BY created_at, id COLLATE "C"`,
  revokeToken: `UPDATE tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`,
  consumeEnrollToken: `UPDATE tokens SET uses = uses + 1 WHERE id = $1 AND kind = 'enroll' AND revoked_at IS NULL
    AND (expires_at IS NULL OR expires_at > $2) AND (max_uses IS NULL OR uses < max_uses)`,
  insertAgent: `INSERT INTO agents (id, secret_hash, hostname, labels, enrolled_at, reported_labels) VALUES ($1, $2, $3, $4::jsonb, $5, $6::jsonb)`,
  findAgent: `SELECT ${AGENT} FROM agents WHERE id = $1`,
  countAgents: `SELECT status, COUNT(*)::int AS n FROM agents WHERE revoked_at IS NULL AND labels @> $1::jsonb GROUP BY status`,
  // One statement for a whole presence flush: the rows go in as parallel arrays; the agents' rows are
  // updated and the health samples of those updated (held here) appended in one multi-row insert.
  recordPresence: `WITH v AS (SELECT * FROM unnest($2::text[], $3::bigint[], $4::json[]) AS v(id, last_seen_at, last_health)),
    u AS (
      UPDATE agents a SET last_seen_at = GREATEST(a.last_seen_at, v.last_seen_at), last_health = COALESCE(v.last_health, a.last_health)
      FROM v WHERE a.id = v.id AND a.replica_id = $1 RETURNING a.id
    )
    INSERT INTO agent_health_samples (agent_id, at, status, load1, mem_free, mem_total, inflight)
    SELECT v.id, v.last_seen_at, v.last_health ->> 'status', (v.last_health ->> 'load1')::float8, (v.last_health ->> 'memFreeBytes')::bigint,
      (v.last_health ->> 'memTotalBytes')::bigint, (v.last_health ->> 'inflight')::int
    FROM v JOIN u ON u.id = v.id WHERE v.last_health IS NOT NULL`,
  listHealthSamples: `SELECT at, status, load1, mem_free AS "memFreeBytes", mem_total AS "memTotalBytes", inflight
    FROM agent_health_samples WHERE agent_id = $1 ORDER BY at DESC LIMIT $2`,
  insertSession: `INSERT INTO sessions (id, token_id, secret_hash, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
  findSession: `SELECT ${SESSION} FROM sessions WHERE id = $1`,
  deleteSession: `DELETE FROM sessions WHERE id = $1`,
  deleteTokenSessions: `DELETE FROM sessions WHERE token_id = $1`,
  pruneSessions: `DELETE FROM sessions WHERE expires_at <= $1`,
  // The revocation's place in order (revoked_seq) is the trigger's (postgres-migrations.ts, step 7).
  revokeAgent: `UPDATE agents SET revoked_at = $2, status = 'offline' WHERE id = $1 AND revoked_at IS NULL`,
  markAllOffline: `UPDATE agents SET status = 'offline' WHERE status <> 'offline'`,
  markReplicaOffline: `UPDATE agents SET status = 'offline' WHERE replica_id = $1 AND status <> 'offline'`,
  insertAudit: `INSERT INTO query_audit (correlation_id, fanout_id, agent_id, requester, session_id, request_id, collector, query, status, created_at, replica_id)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10)`,
  finishAudit: `UPDATE query_audit SET status = $2, finished_at = $3, duration_ms = $4, error_code = $5, error_message = $6,
    result = $7::json, result_truncated = $8, result_seq = $9 WHERE correlation_id = $1 AND status = 'pending'`,
  findAudit: `SELECT ${AUDIT} FROM query_audit WHERE correlation_id = $1`,
  insertFanout: `INSERT INTO fanouts (id, query, collector, requester, request_id, timeout_ms, target_count, created_at, replica_id)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
  // Targets go in as parallel arrays, one statement whatever their number; ORDER BY keeps their seqs in list order.
  insertTargets: `INSERT INTO query_audit (correlation_id, fanout_id, replica_id, agent_id, requester, session_id, request_id, collector, query, status, created_at)
    SELECT t.correlation_id, $1, $10, t.agent_id, t.requester, t.session_id, t.request_id, t.collector, t.query, 'pending', t.created_at
    FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[])
      WITH ORDINALITY AS t(correlation_id, agent_id, requester, session_id, request_id, collector, query, created_at, n)
    ORDER BY t.n`,
  // listAgents' rows and order, only their ids; $1: the labels every one must carry, or null.
  listAgentIds: `SELECT id FROM agents WHERE revoked_at IS NULL AND ($1::jsonb IS NULL OR labels @> $1::jsonb) ORDER BY hostname COLLATE "C", id COLLATE "C"`,
  finishFanout: `UPDATE fanouts SET finished_at = $2 WHERE id = $1`,
  findFanout: `SELECT ${FANOUT} FROM fanouts WHERE id = $1`,
  listFanoutTargets: `SELECT ${AUDIT} FROM query_audit WHERE fanout_id = $1 ORDER BY result_seq NULLS LAST, seq`,
  listFanoutResults: `SELECT ${AUDIT} FROM query_audit WHERE fanout_id = $1 AND result_seq > $2 ORDER BY result_seq`,
  // Both read query_audit_fanout_agent (migration 10), whose agent_id is in byte order (COLLATE "C").
  listFanoutTargetPage: `SELECT ${FANOUT_TARGET} FROM query_audit
    WHERE fanout_id = $1 AND agent_id COLLATE "C" > $2 ORDER BY agent_id COLLATE "C" LIMIT $3`,
  countFanoutTargets: `SELECT status, COUNT(*)::int AS n FROM query_audit WHERE fanout_id = $1 GROUP BY status`,
  lockCloseOut: `SELECT pg_advisory_xact_lock(${CLOSEOUT_LOCK}, hashtext($1))`,
  // Each closed fan-out target takes the next resultSeqs of its fan-out, in seq order, after those landed.
  // The highest landed resultSeq is read once per fan-out (not once per open target: a close-out of tens
  // of thousands of a fan-out's targets stays one pass over them).
  closeOpenAudit: `WITH open AS (
      SELECT q.seq, q.fanout_id, ROW_NUMBER() OVER (PARTITION BY q.fanout_id ORDER BY q.seq) AS n
      FROM query_audit q WHERE q.status = 'pending' AND ($1::text IS NULL OR q.replica_id = $1)
    ), landed AS (
      SELECT r.fanout_id, MAX(r.result_seq) AS last FROM query_audit r
      WHERE r.fanout_id IN (SELECT fanout_id FROM open WHERE fanout_id IS NOT NULL) GROUP BY r.fanout_id
    ), closing AS (
      SELECT open.seq, CASE WHEN open.fanout_id IS NULL THEN NULL ELSE COALESCE(landed.last, 0) + open.n END AS result_seq
      FROM open LEFT JOIN landed ON landed.fanout_id = open.fanout_id
    )
    UPDATE query_audit a SET status = 'error', finished_at = $2, error_code = $3, error_message = $4, result_seq = closing.result_seq
    FROM closing WHERE a.seq = closing.seq AND a.status = 'pending'
    RETURNING a.correlation_id AS "correlationId", a.agent_id AS "agentId", a.fanout_id AS "fanoutId"`,
  closeOpenFanouts: `UPDATE fanouts SET finished_at = $2 WHERE finished_at IS NULL AND ($1::text IS NULL OR replica_id = $1)
    RETURNING id, target_count AS "targetCount"`,
  openWorkOwners: `SELECT replica_id AS "replicaId" FROM query_audit WHERE status = 'pending' AND replica_id IS NOT NULL
    UNION SELECT replica_id FROM fanouts WHERE finished_at IS NULL AND replica_id IS NOT NULL`,
  revokedAmong: `SELECT id FROM agents WHERE id = ANY($1::text[]) AND revoked_at IS NOT NULL`,
  revokedSince: `SELECT id, revoked_seq AS seq FROM agents WHERE revoked_seq > $1 ORDER BY revoked_seq LIMIT $2`,
  revocationCursor: `SELECT COALESCE(MAX(revoked_seq), 0) AS cursor FROM agents WHERE revoked_seq IS NOT NULL`,
  lockEvents: `SELECT pg_advisory_xact_lock(${EVENTS_LOCK}, hashtext($1))`,
  insertEvents: `INSERT INTO events (type, data, created_at)
    SELECT e.type, e.data, e.created_at FROM unnest($1::text[], $2::json[], $3::bigint[]) WITH ORDINALITY AS e(type, data, created_at, n)
    ORDER BY e.n RETURNING seq`,
  listEvents: `SELECT ${EVENT} FROM events WHERE seq > $1 ORDER BY seq LIMIT $2`,
  insertOutbox: `INSERT INTO destination_outbox (seq, type, data, created_at)
    SELECT seq, type, data, created_at FROM events WHERE seq = ANY($1::bigint[]) AND type = ANY($2::text[])`,
  listOutbox: `SELECT ${EVENT} FROM destination_outbox WHERE seq > $1 ORDER BY seq LIMIT $2`,
  lockDestinations: `SELECT pg_advisory_xact_lock(${DESTINATIONS_LOCK}, hashtext($1))`,
  insertDestination: `INSERT INTO destinations (id, kind, url, secret, path, created_at, delivered_seq)
    VALUES ($1, $2, $3, $4, $5, $6, (SELECT COALESCE(MAX(seq), 0) FROM events)) RETURNING ${DESTINATION}`,
  findDestination: `SELECT ${DESTINATION} FROM destinations WHERE id = $1`,
  listDestinations: `SELECT ${DESTINATION} FROM destinations ORDER BY created_at, id COLLATE "C"`,
  deleteDestination: `DELETE FROM destinations WHERE id = $1`,
  claimDestination: `UPDATE destinations SET claimed_by = $2, lease_until = ${DB_NOW} + $3
    WHERE id = $1 AND (claimed_by IS NULL OR claimed_by = $2 OR lease_until < ${DB_NOW})`,
  releaseDestinations: `UPDATE destinations SET claimed_by = NULL, lease_until = NULL WHERE $1::text IS NULL OR claimed_by = $1`,
  advanceDestination: `UPDATE destinations SET delivered_seq = GREATEST(delivered_seq, $3), last_error = NULL, last_error_at = NULL
    WHERE id = $1 AND claimed_by = $2`,
  recordDestinationFailure: `UPDATE destinations SET last_error = $3, last_error_at = $4 WHERE id = $1 AND claimed_by = $2`,
  destinationBacklog: `SELECT d.kind, COUNT(o.seq)::int AS n FROM destinations d JOIN destination_outbox o ON o.seq > d.delivered_seq GROUP BY d.kind`,
  pruneOutbox: `DELETE FROM destination_outbox WHERE seq IN (
      SELECT seq FROM destination_outbox
      WHERE seq <= COALESCE((SELECT MIN(delivered_seq) FROM destinations), (SELECT MAX(seq) FROM destination_outbox))
      ORDER BY seq LIMIT $1)`,
  // A claim replaces only an expired record; RETURNING says whether it did (no row: the key is held).
  claimIdempotencyKey: `INSERT INTO idempotency_keys (key, requester, fingerprint, owner, state, created_at, expires_at, response)
    VALUES ($1, $2, $3, $4, 'running', $5, $6, NULL)
    ON CONFLICT (key) DO UPDATE SET requester = EXCLUDED.requester, fingerprint = EXCLUDED.fingerprint, owner = EXCLUDED.owner,
      state = 'running', created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at, response = NULL
      WHERE idempotency_keys.expires_at <= $7
    RETURNING key`,
  completeIdempotencyKey: `UPDATE idempotency_keys SET state = 'done', response = $3, expires_at = $4
    WHERE key = $1 AND owner = $2 AND state = 'running'`,
  releaseIdempotencyKey: `DELETE FROM idempotency_keys WHERE key = $1 AND owner = $2 AND state = 'running'`,
  findIdempotencyKey: `SELECT ${IDEMPOTENCY} FROM idempotency_keys WHERE key = $1`,
  pruneIdempotencyKeys: `DELETE FROM idempotency_keys WHERE expires_at <= $1`,
  dropIdempotencyClaims: `DELETE FROM idempotency_keys WHERE state = 'running'`,
} as const;

/** Column of `agents` and parameter cast for each patchable field: the only names `updateAgent` puts in SQL. */
export const AGENT_PATCH: Record<keyof AgentPatch, readonly [column: string, cast: string]> = {
  hostname: ["hostname", ""],
  labels: ["labels", "::jsonb"],
  reportedLabels: ["reported_labels", "::jsonb"],
  status: ["status", ""],
  protocol: ["protocol", ""],
  agentVersion: ["agent_version", ""],
  platform: ["platform", ""],
  arch: ["arch", ""],
  connectedAt: ["connected_at", ""],
  lastSeenAt: ["last_seen_at", ""],
  lastHealth: ["last_health", "::json"],
  replicaId: ["replica_id", ""],
  legacyShapes: ["legacy_shapes", "::json"],
};
