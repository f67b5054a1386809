import type { AgentFilter, AgentRecord, AuditRecord, FanoutRecord, HubEventRecord, IdempotencyRecord, TokenRecord } from "./store.js";

/** A row as better-sqlite3 returns it: column name → value. */
export type Row = Record<string, unknown>;

export function toIdempotency(r: Row): IdempotencyRecord {
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

export function toFanout(r: Row): FanoutRecord {
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

export function toColumnValue(value: unknown): unknown {
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

export function toToken(r: Row): TokenRecord {
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

export function toAgent(r: Row): AgentRecord {
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

export function toAudit(r: Row): AuditRecord {
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

/** An `events` or `destination_outbox` row (same columns). */
export function toEvent(r: Row): HubEventRecord {
  return { seq: r.seq as number, type: r.type as HubEventRecord["type"], data: JSON.parse(r.data as string) as Record<string, unknown>, createdAt: r.created_at as number };
}
