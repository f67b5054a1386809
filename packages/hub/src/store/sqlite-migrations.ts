/**
 * Numbered migrations of the embedded store. Each runs once, in order, inside a transaction;
 * `PRAGMA user_version` records the last one applied. Never edit a released migration: add one.
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
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
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
];
