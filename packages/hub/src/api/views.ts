import type { AgentRecord, AuditRecord } from "../store/store.js";

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** An agent as the REST API shows it (never its key hash). */
export function agentView(a: AgentRecord) {
  return {
    id: a.id,
    hostname: a.hostname,
    labels: a.labels,
    status: a.status,
    protocol: a.protocol,
    agentVersion: a.agentVersion,
    platform: a.platform,
    arch: a.arch,
    enrolledAt: iso(a.enrolledAt),
    connectedAt: iso(a.connectedAt),
    lastSeenAt: iso(a.lastSeenAt),
    lastHealth: a.lastHealth,
    replicaId: a.replicaId,
  };
}

/** One row of the query history. */
export function auditView(q: AuditRecord) {
  return {
    seq: q.seq,
    correlationId: q.correlationId,
    agentId: q.agentId,
    requester: q.requester,
    sessionId: q.sessionId,
    requestId: q.requestId,
    collector: q.collector,
    query: q.query,
    status: q.status,
    createdAt: iso(q.createdAt),
    finishedAt: iso(q.finishedAt),
    durationMs: q.durationMs,
    error: q.errorCode === null ? null : { code: q.errorCode, message: q.errorMessage },
    result: q.result,
    resultTruncated: q.resultTruncated,
  };
}
