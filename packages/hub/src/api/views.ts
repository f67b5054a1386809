import type { TargetResult } from "../queries/fanout-service.js";
import { countedAs, emptyCounts } from "../queries/fanout-service.js";
import type { AgentRecord, AuditRecord, FanoutRecord } from "../store/store.js";

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** An agent as the REST API shows it (never its key hash). */
export function agentView(a: AgentRecord) {
  return {
    id: a.id,
    hostname: a.hostname,
    labels: a.labels,
    reportedLabels: a.reportedLabels,
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
    legacyShapes: a.legacyShapes,
  };
}

/** One row of the query history. */
export function auditView(q: AuditRecord) {
  return {
    seq: q.seq,
    correlationId: q.correlationId,
    fanoutId: q.fanoutId,
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

/** One fan-out target as its row reads in the store (the same shape the stream's `result` events carry). */
export function targetView(q: AuditRecord): TargetResult {
  return {
    agentId: q.agentId,
    correlationId: q.correlationId,
    status: q.status,
    result: q.result as TargetResult["result"],
    error: q.errorCode === null ? null : { code: q.errorCode, message: q.errorMessage ?? "" },
    durationMs: q.durationMs,
    resultSeq: q.resultSeq,
  };
}

/** A fan-out with its status, counts per state and one row per target. */
export function fanoutView(f: FanoutRecord, targets: AuditRecord[]) {
  const counts = emptyCounts();
  for (const t of targets) counts[countedAs(t.status)]++;
  return {
    id: f.id,
    query: f.query,
    collector: f.collector,
    requester: f.requester,
    requestId: f.requestId,
    timeoutMs: f.timeoutMs,
    createdAt: iso(f.createdAt),
    finishedAt: iso(f.finishedAt),
    status: f.finishedAt === null ? "running" : "done",
    targetCount: f.targetCount,
    counts,
    targets: targets.map(targetView),
  };
}
