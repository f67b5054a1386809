/**
 * Numbered migrations of the embedded store. Each runs once, in order, inside a transaction;
 * `PRAGMA user_version` records the last one applied. Never edit a released migration: add one.
 *
 * Sequences are plain rowid keys (no AUTOINCREMENT, which costs a write to sqlite_sequence per insert);
 * they stay monotonic because the newest row of a table is never deleted (the pruner, store/pruner.ts,
 * keeps the newest audit row and the newest event whatever their age).
 */
export const SQLITE_MIGRATIONS: readonly string[] = [
  // 1: tokens, agents, query audit.
  `
  CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('api', 'enroll')),
    scope       TEXT CHECK (scope IN ('read', 'query', 'admin')),
    name        TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    revoked_at  INTEGER
  );
  CREATE TABLE agents (
    id            TEXT PRIMARY KEY,
    secret_hash   TEXT NOT NULL,
    hostname      TEXT NOT NULL,
    labels        TEXT NOT NULL DEFAULT '{}',
    status        TEXT NOT NULL DEFAULT 'offline',
    protocol      INTEGER,
    agent_version TEXT,
    platform      TEXT,
    arch          TEXT,
    enrolled_at   INTEGER NOT NULL,
    connected_at  INTEGER,
    last_seen_at  INTEGER,
    last_health   TEXT,
    replica_id    TEXT,
    revoked_at    INTEGER
  );
  CREATE TABLE query_audit (
    seq              INTEGER PRIMARY KEY,
    correlation_id   TEXT NOT NULL UNIQUE,
    agent_id         TEXT NOT NULL,
    requester        TEXT NOT NULL,
    session_id       TEXT NOT NULL,
    request_id       TEXT,
    collector        TEXT NOT NULL,
    query            TEXT NOT NULL,
    status           TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    finished_at      INTEGER,
    duration_ms      REAL,
    error_code       TEXT,
    error_message    TEXT,
    result           TEXT,
    result_truncated INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX query_audit_agent ON query_audit (agent_id, seq);
  `,
  // 2: fan-outs (their targets are audit rows) and the bounded hub event log.
  `
  ALTER TABLE query_audit ADD COLUMN fanout_id TEXT;
  ALTER TABLE query_audit ADD COLUMN result_seq INTEGER;
  CREATE INDEX query_audit_fanout ON query_audit (fanout_id, result_seq);
  CREATE TABLE fanouts (
    id           TEXT PRIMARY KEY,
    query        TEXT NOT NULL,
    collector    TEXT NOT NULL,
    requester    TEXT NOT NULL,
    request_id   TEXT,
    timeout_ms   INTEGER NOT NULL,
    target_count INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    finished_at  INTEGER
  );
  CREATE TABLE events (
    seq        INTEGER PRIMARY KEY,
    type       TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  `,
  // 3: idempotency keys of REST POSTs (api/idempotency.ts).
  `
  CREATE TABLE idempotency_keys (
    key         TEXT PRIMARY KEY,
    requester   TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    owner       TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('running', 'done')),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    response    TEXT
  );
  CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
  `,
  // 4: the legacy traits an agent's connection showed (a JSON array of names).
  `
  ALTER TABLE agents ADD COLUMN legacy_shapes TEXT;
  `,
  // 5: labels belong to the operator; what an agent reports is kept apart. Enrollment tokens carry the
  // labels they give, and a use count.
  `
  ALTER TABLE agents ADD COLUMN reported_labels TEXT NOT NULL DEFAULT '{}';
  ALTER TABLE tokens ADD COLUMN labels TEXT;
  ALTER TABLE tokens ADD COLUMN max_uses INTEGER;
  ALTER TABLE tokens ADD COLUMN uses INTEGER NOT NULL DEFAULT 0;
  `,
  // 6: who owns open work, so that a restarted hub or a surviving replica can close out what a dead
  //    one left pending (partial indexes: only open rows are ever looked up by owner).
  `
  ALTER TABLE query_audit ADD COLUMN replica_id TEXT;
  ALTER TABLE fanouts ADD COLUMN replica_id TEXT;
  CREATE INDEX query_audit_open ON query_audit (replica_id) WHERE status = 'pending';
  CREATE INDEX fanouts_open ON fanouts (replica_id) WHERE finished_at IS NULL;
  `,
  // 7: history retention (store/pruner.ts) walks single-agent audit rows and fan-outs in age order, so
  //    finding what is past its age or count reads an index range, never the table. Fan-out targets are
  //    pruned by fan-out (query_audit_fanout), events by seq (their primary key).
  `
  CREATE INDEX query_audit_single_age ON query_audit (created_at, seq) WHERE fanout_id IS NULL;
  CREATE INDEX fanouts_age ON fanouts (created_at, id);
  `,
  // 8: revocations in order (revoked_seq), so a replica asks for those since its last look instead of
  //    checking every agent it holds. A trigger numbers every revocation, by the hub or by hand; writes
  //    are serialised, so the next seq is the highest plus one.
  `
  ALTER TABLE agents ADD COLUMN revoked_seq INTEGER;
  UPDATE agents SET revoked_seq = r.n FROM (
    SELECT id, row_number() OVER (ORDER BY revoked_at, id) AS n FROM agents WHERE revoked_at IS NOT NULL
  ) AS r WHERE agents.id = r.id;
  CREATE INDEX agents_revoked ON agents (revoked_seq) WHERE revoked_seq IS NOT NULL;
  CREATE TRIGGER agents_revocation_seq AFTER UPDATE OF revoked_at ON agents
    WHEN OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL
  BEGIN
    UPDATE agents SET revoked_seq = (SELECT COALESCE(MAX(revoked_seq), 0) + 1 FROM agents WHERE revoked_seq IS NOT NULL) WHERE id = NEW.id;
  END;
  `,
  // 9: web console sessions (only the hash of a cookie's secret), ended with their token or at their
  //    expiry (the pruner); each agent's recent health samples in a table of their own, appended by the
  //    presence flush (one multi-row insert, no rewrite of older samples), read newest first by agent and
  //    pruned by age from the oldest rowid (appended in time order, so no index of their own on the time:
  //    sqlite-history.ts; store/health-samples.ts); and the agent list's order (hostname, id) as an index, so a
  //    page of the list reads an index range.
  `
  CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    token_id    TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    csrf_token  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
  );
  CREATE INDEX sessions_token ON sessions (token_id);
  CREATE INDEX sessions_expiry ON sessions (expires_at);
  CREATE TABLE agent_health_samples (
    agent_id  TEXT NOT NULL,
    at        INTEGER NOT NULL,
    status    TEXT NOT NULL,
    load1     REAL NOT NULL,
    mem_free  INTEGER NOT NULL,
    mem_total INTEGER NOT NULL,
    inflight  INTEGER NOT NULL
  );
  CREATE INDEX agent_health_samples_agent ON agent_health_samples (agent_id, at);
  CREATE INDEX agents_list_order ON agents (hostname, id) WHERE revoked_at IS NULL;
  `,
  // 10: destinations and their outbox.
  //     The outbox holds a copy of each event of a delivered type, written in the transaction that appends
  //     the event (SqliteStore.appendEvents), and each destination a cursor over it (delivered_seq). Rows
  //     go only once every destination's cursor has passed them (pruneOutbox), so a slow or failing
  //     destination loses nothing, while the event log keeps its own bounds (a flood of agent events
  //     never holds the outbox back, and a dead webhook never holds the event log). claimed_by and
  //     lease_until: which hub delivers the destination (one at a time, so order holds).
  `
  CREATE TABLE destinations (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('webhook', 'file')),
    url           TEXT,
    secret        TEXT,
    path          TEXT,
    created_at    INTEGER NOT NULL,
    delivered_seq INTEGER NOT NULL,
    last_error    TEXT,
    last_error_at INTEGER,
    claimed_by    TEXT,
    lease_until   INTEGER
  );
  CREATE TABLE destination_outbox (
    seq        INTEGER PRIMARY KEY,
    type       TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  `,
  // 11: schedules and policies (one table, by kind), the last slot and differential base per (schedule,
  //     agent), every run keyed by (schedule, agent, slot) so a slot is claimed once, policy host states and
  //     their history. Runs and changes are pruned by seq and age (store/pruner.ts).
  `
  CREATE TABLE schedules (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('schedule', 'policy')),
    name        TEXT NOT NULL,
    query       TEXT NOT NULL,
    collector   TEXT NOT NULL,
    interval_ms INTEGER NOT NULL,
    targets     TEXT NOT NULL,
    mode        TEXT CHECK (mode IN ('snapshot', 'differential')),
    timeout_ms  INTEGER,
    enabled     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (kind, name)
  );
  CREATE TABLE schedule_agents (
    schedule_id TEXT NOT NULL,
    agent_id    TEXT NOT NULL,
    last_slot   INTEGER NOT NULL,
    base_rows   TEXT,
    PRIMARY KEY (schedule_id, agent_id)
  );
  CREATE TABLE schedule_runs (
    seq            INTEGER PRIMARY KEY,
    schedule_id    TEXT NOT NULL,
    agent_id       TEXT NOT NULL,
    slot           INTEGER NOT NULL,
    correlation_id TEXT NOT NULL,
    owner          TEXT NOT NULL,
    status         TEXT NOT NULL,
    snapshot       INTEGER NOT NULL DEFAULT 0,
    added          TEXT,
    removed        TEXT,
    rows           TEXT,
    error_code     TEXT,
    error_message  TEXT,
    created_at     INTEGER NOT NULL,
    finished_at    INTEGER,
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
    since      INTEGER NOT NULL,
    checked_at INTEGER NOT NULL,
    PRIMARY KEY (policy_id, agent_id)
  );
  CREATE TABLE policy_changes (
    seq        INTEGER PRIMARY KEY,
    policy_id  TEXT NOT NULL,
    agent_id   TEXT NOT NULL,
    from_state TEXT,
    to_state   TEXT NOT NULL,
    reason     TEXT,
    at         INTEGER NOT NULL
  );
  CREATE INDEX policy_changes_policy ON policy_changes (policy_id, seq);
  CREATE INDEX policy_changes_age ON policy_changes (at);
  `,
  // 12: a fan-out's targets in agent-id order (byte order, SQLite's BINARY collation), so a page of its
  //     targets reads an index range after the previous page's last agent id; status in the index, so its
  //     counts per state read the index alone. Partial: single-agent queries have no fan-out.
  `
  CREATE INDEX query_audit_fanout_agent ON query_audit (fanout_id, agent_id, status) WHERE fanout_id IS NOT NULL;
  `,
  // 13: scheduled runs keyed by (schedule, slot, agent): the runs claimed together are neighbours in the
  //     key (slots near now), where (schedule, agent, slot) put each on a page of its own. A run is ended
  //     by that key, and an agent's cursor is its latest claimed slot read off it: the random
  //     correlationId's index, and the cursor moved in schedule_agents on every claim, each cost the
  //     write of a page chosen at random per run. schedule_agents.last_slot is no longer written (0 for
  //     new rows). SQLite changes a table's UNIQUE constraint only by copying the table.
  `
  CREATE TABLE schedule_runs_keyed (
    seq            INTEGER PRIMARY KEY,
    schedule_id    TEXT NOT NULL,
    agent_id       TEXT NOT NULL,
    slot           INTEGER NOT NULL,
    correlation_id TEXT NOT NULL,
    owner          TEXT NOT NULL,
    status         TEXT NOT NULL,
    snapshot       INTEGER NOT NULL DEFAULT 0,
    added          TEXT,
    removed        TEXT,
    rows           TEXT,
    error_code     TEXT,
    error_message  TEXT,
    created_at     INTEGER NOT NULL,
    finished_at    INTEGER,
    UNIQUE (schedule_id, slot, agent_id)
  );
  INSERT INTO schedule_runs_keyed SELECT seq, schedule_id, agent_id, slot, correlation_id, owner, status, snapshot, added, removed, rows,
    error_code, error_message, created_at, finished_at FROM schedule_runs;
  DROP TABLE schedule_runs;
  ALTER TABLE schedule_runs_keyed RENAME TO schedule_runs;
  CREATE INDEX schedule_runs_schedule ON schedule_runs (schedule_id, seq);
  CREATE INDEX schedule_runs_age ON schedule_runs (created_at);
  CREATE INDEX schedule_runs_open ON schedule_runs (owner) WHERE status = 'pending';
  `,
];
