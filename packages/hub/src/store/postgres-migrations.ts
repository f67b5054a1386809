/**
 * Numbered migrations of the cluster store (PostgreSQL). `PostgresStore.open` applies the pending ones
 * in order, in one transaction holding an advisory lock, and records each in `schema_migrations`, so
 * replicas starting together migrate exactly once. Never edit a released migration: add one.
 *
 * The tables mirror the SQLite ones (sqlite-migrations.ts) column for column. Differences, and why:
 * - times are epoch-ms BIGINT (past 2^31); the store parses int8 back into a JS number;
 * - `labels` is JSONB so that label filters run in SQL (`labels @> $1::jsonb`, GIN-indexed);
 * - opaque payloads (audit result, last health, event data) are JSON, not JSONB: JSON keeps the text as
 *   written and accepts `\u0000` escapes, which JSONB rejects, and a result from a host may hold one;
 * - sequences are BIGSERIAL: values come from the database, unique across replicas. They may have gaps
 *   (a rolled-back insert still consumes its value), so nothing may assume they are contiguous.
 */
import { REVOCATIONS_LOCK } from "./postgres-statements.js";

export const POSTGRES_MIGRATIONS: readonly string[] = [
  // 1: tokens, agents, the query audit with fan-outs, the bounded hub event log.
  `
  CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('api', 'enroll')),
    scope       TEXT CHECK (scope IN ('read', 'query', 'admin')),
    name        TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT,
    revoked_at  BIGINT
  );
  CREATE TABLE agents (
    id            TEXT PRIMARY KEY,
    secret_hash   TEXT NOT NULL,
    hostname      TEXT NOT NULL,
    labels        JSONB NOT NULL DEFAULT '{}',
    status        TEXT NOT NULL DEFAULT 'offline',
    protocol      INTEGER,
    agent_version TEXT,
    platform      TEXT,
    arch          TEXT,
    enrolled_at   BIGINT NOT NULL,
    connected_at  BIGINT,
    last_seen_at  BIGINT,
    last_health   JSON,
    replica_id    TEXT,
    revoked_at    BIGINT
  );
  CREATE INDEX agents_labels ON agents USING GIN (labels jsonb_path_ops);
  CREATE INDEX agents_replica ON agents (replica_id);
  CREATE TABLE query_audit (
    seq              BIGSERIAL PRIMARY KEY,
    correlation_id   TEXT NOT NULL UNIQUE,
    fanout_id        TEXT,
    result_seq       INTEGER,
    agent_id         TEXT NOT NULL,
    requester        TEXT NOT NULL,
    session_id       TEXT NOT NULL,
    request_id       TEXT,
    collector        TEXT NOT NULL,
    query            TEXT NOT NULL,
    status           TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    finished_at      BIGINT,
    duration_ms      DOUBLE PRECISION,
    error_code       TEXT,
    error_message    TEXT,
    result           JSON,
    result_truncated BOOLEAN NOT NULL DEFAULT FALSE
  );
  CREATE INDEX query_audit_agent ON query_audit (agent_id, seq);
  CREATE INDEX query_audit_fanout ON query_audit (fanout_id, result_seq);
  CREATE TABLE fanouts (
    id           TEXT PRIMARY KEY,
    query        TEXT NOT NULL,
    collector    TEXT NOT NULL,
    requester    TEXT NOT NULL,
    request_id   TEXT,
    timeout_ms   BIGINT NOT NULL,
    target_count INTEGER NOT NULL,
    created_at   BIGINT NOT NULL,
    finished_at  BIGINT
  );
  CREATE TABLE events (
    seq        BIGSERIAL PRIMARY KEY,
    type       TEXT NOT NULL,
    data       JSON NOT NULL,
    created_at BIGINT NOT NULL
  );
  `,
  // 2: idempotency keys of REST POSTs (api/idempotency.ts), as in SQLite's migration 3.
  `
  CREATE TABLE idempotency_keys (
    key         TEXT PRIMARY KEY,
    requester   TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    owner       TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('running', 'done')),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    response    TEXT
  );
  CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
  `,
  // 3: the legacy traits an agent's connection showed (a JSON array of names).
  `
  ALTER TABLE agents ADD COLUMN legacy_shapes JSON;
  `,
  // 4: labels belong to the operator; what an agent reports is kept apart. Enrollment tokens carry the
  // labels they give, and a use count.
  `
  ALTER TABLE agents ADD COLUMN reported_labels JSONB NOT NULL DEFAULT '{}';
  ALTER TABLE tokens ADD COLUMN labels JSONB;
  ALTER TABLE tokens ADD COLUMN max_uses INTEGER;
  ALTER TABLE tokens ADD COLUMN uses INTEGER NOT NULL DEFAULT 0;
  `,
  // 5: who owns open work (see sqlite-migrations.ts, step 6).
  `
  ALTER TABLE query_audit ADD COLUMN replica_id TEXT;
  ALTER TABLE fanouts ADD COLUMN replica_id TEXT;
  CREATE INDEX query_audit_open ON query_audit (replica_id) WHERE status = 'pending';
  CREATE INDEX fanouts_open ON fanouts (replica_id) WHERE finished_at IS NULL;
  `,
  // 6: history retention in age order (see sqlite-migrations.ts, step 7). Fan-out ids compare in byte
  //    order (COLLATE "C", as every text ordering of this store), so the index serves the pruner's walk.
  //    IF NOT EXISTS: on a large existing audit an operator may build them beforehand with
  //    CREATE INDEX CONCURRENTLY (which cannot run inside this migration's transaction) and skip the
  //    write lock a plain build holds.
  `
  CREATE INDEX IF NOT EXISTS query_audit_single_age ON query_audit (created_at, seq) WHERE fanout_id IS NULL;
  CREATE INDEX IF NOT EXISTS fanouts_age ON fanouts (created_at, id COLLATE "C");
  `,
  // 7: revocations in order (see sqlite-migrations.ts, step 8). A trigger gives every revocation, by the
  //    hub or by hand, the next value of a sequence drawn under an advisory lock held to commit, so they
  //    commit, and become visible, in seq order (PostgresStore.revokedSince relies on it). Schema-qualified
  //    in the function: an operator's session may not have the hub's search_path.
  `
  CREATE SEQUENCE agent_revocations;
  ALTER TABLE agents ADD COLUMN revoked_seq BIGINT;
  UPDATE agents a SET revoked_seq = r.n FROM (
    SELECT id, row_number() OVER (ORDER BY revoked_at, id COLLATE "C") AS n FROM agents WHERE revoked_at IS NOT NULL
  ) r WHERE a.id = r.id;
  SELECT setval('agent_revocations', COALESCE(MAX(revoked_seq), 0) + 1, false) FROM agents;
  CREATE INDEX agents_revoked ON agents (revoked_seq) WHERE revoked_seq IS NOT NULL;
  CREATE FUNCTION agents_revocation_seq() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    PERFORM pg_advisory_xact_lock(${REVOCATIONS_LOCK}, hashtext(TG_TABLE_SCHEMA));
    NEW.revoked_seq := nextval(format('%I.agent_revocations', TG_TABLE_SCHEMA)::regclass);
    RETURN NEW;
  END $$;
  CREATE TRIGGER agents_revocation_seq BEFORE UPDATE OF revoked_at ON agents FOR EACH ROW
    WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL) EXECUTE FUNCTION agents_revocation_seq();
  `,
  // 8: web console sessions, each agent's recent health samples in a table of their own, and the agent
  //    list's order as an index (see sqlite-migrations.ts, step 9; byte order, COLLATE "C", as the list).
  `
  CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    token_id    TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    csrf_token  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
  );
  CREATE INDEX sessions_token ON sessions (token_id);
  CREATE INDEX sessions_expiry ON sessions (expires_at);
  CREATE TABLE agent_health_samples (
    agent_id  TEXT NOT NULL,
    at        BIGINT NOT NULL,
    status    TEXT NOT NULL,
    load1     DOUBLE PRECISION NOT NULL,
    mem_free  BIGINT NOT NULL,
    mem_total BIGINT NOT NULL,
    inflight  INTEGER NOT NULL
  );
  CREATE INDEX agent_health_samples_agent ON agent_health_samples (agent_id, at);
  CREATE INDEX agent_health_samples_age ON agent_health_samples (at);
  CREATE INDEX agents_list_order ON agents (hostname COLLATE "C", id COLLATE "C") WHERE revoked_at IS NULL;
  `,
  // 9: destinations and their outbox, as SQLite's 10 (see sqlite-migrations.ts for why an outbox beside
  //    the event log).
  `
  CREATE TABLE destinations (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('webhook', 'file')),
    url           TEXT,
    secret        TEXT,
    path          TEXT,
    created_at    BIGINT NOT NULL,
    delivered_seq BIGINT NOT NULL,
    last_error    TEXT,
    last_error_at BIGINT,
    claimed_by    TEXT,
    lease_until   BIGINT
  );
  CREATE TABLE destination_outbox (
    seq        BIGINT PRIMARY KEY,
    type       TEXT NOT NULL,
    data       JSON NOT NULL,
    created_at BIGINT NOT NULL
  );
  `,
  // 10: schedules and policies, per-agent state, runs keyed by (schedule, agent, slot), policy host states
  //    and their history (see sqlite-migrations.ts, step 11). Result rows are JSON (kept as written).
  `
  CREATE TABLE schedules (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('schedule', 'policy')),
    name        TEXT NOT NULL,
    query       TEXT NOT NULL,
    collector   TEXT NOT NULL,
    interval_ms BIGINT NOT NULL,
    targets     JSONB NOT NULL,
    mode        TEXT CHECK (mode IN ('snapshot', 'differential')),
    timeout_ms  BIGINT,
    enabled     BOOLEAN NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (kind, name)
  );
  CREATE TABLE schedule_agents (
    schedule_id TEXT NOT NULL,
    agent_id    TEXT NOT NULL,
    last_slot   BIGINT NOT NULL,
    base_rows   JSON,
    PRIMARY KEY (schedule_id, agent_id)
  );
  CREATE TABLE schedule_runs (
    seq            BIGSERIAL PRIMARY KEY,
    schedule_id    TEXT NOT NULL,
    agent_id       TEXT NOT NULL,
    slot           BIGINT NOT NULL,
    correlation_id TEXT NOT NULL,
    owner          TEXT NOT NULL,
    status         TEXT NOT NULL,
    snapshot       BOOLEAN NOT NULL DEFAULT FALSE,
    added          JSON,
    removed        JSON,
    rows           JSON,
    error_code     TEXT,
    error_message  TEXT,
    created_at     BIGINT NOT NULL,
    finished_at    BIGINT,
    UNIQUE (schedule_id, agent_id, slot)
  );
  CREATE INDEX schedule_runs_schedule ON schedule_runs (schedule_id, seq);
  CREATE INDEX schedule_runs_correlation ON schedule_runs (correlation_id);
  CREATE INDEX schedule_runs_age ON schedule_runs (created_at);
  CREATE INDEX schedule_runs_open ON schedule_runs (owner) WHERE status = 'pending';
  CREATE TABLE policy_hosts (
    policy_id  TEXT NOT NULL,
    agent_id   TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('pass', 'fail', 'unknown')),
    reason     TEXT,
    since      BIGINT NOT NULL,
    checked_at BIGINT NOT NULL,
    PRIMARY KEY (policy_id, agent_id)
  );
  CREATE TABLE policy_changes (
    seq        BIGSERIAL PRIMARY KEY,
    policy_id  TEXT NOT NULL,
    agent_id   TEXT NOT NULL,
    from_state TEXT,
    to_state   TEXT NOT NULL,
    reason     TEXT,
    at         BIGINT NOT NULL
  );
  CREATE INDEX policy_changes_policy ON policy_changes (policy_id, seq);
  CREATE INDEX policy_changes_age ON policy_changes (at);
  `,
  // 11: a fan-out's targets in agent-id order, as SQLite's 12 (byte order, COLLATE "C", as every text
  //     ordering of this store). IF NOT EXISTS: an operator may build it beforehand CONCURRENTLY (see 6).
  `
  CREATE INDEX IF NOT EXISTS query_audit_fanout_agent ON query_audit (fanout_id, agent_id COLLATE "C", status) WHERE fanout_id IS NOT NULL;
  `,
];
