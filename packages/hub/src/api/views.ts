import { countedAs, type AgentView, type AuditRow, type HealthSample, type FanoutPage, type FanoutView, type QueryResult, type TargetResult } from "@uplink/protocol";
import { emptyCounts } from "../queries/fanout-service.js";
import type { HealthSampleRecord } from "../store/health-samples.js";
import type { AgentRecord, AuditRecord, FanoutRecord, FanoutTargetRecord, QueryStatus } from "../store/store.js";

// Each view produces a value of the REST shape declared in the protocol package (rest*.ts), which the
// OpenAPI description is generated from; the compiler holds these functions to those shapes.

function iso(ms: number): string;
function iso(ms: number | null): string | null;
function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** The error of a stored command, or null when it succeeded. */
const commandError = (q: Pick<AuditRecord, "errorCode" | "errorMessage">) => (q.errorCode === null ? null : { code: q.errorCode, message: q.errorMessage ?? "" });

/** An agent as the REST API shows it (never its key hash). */
export function agentView(a: AgentRecord): AgentView {
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

/** One health sample of an agent. */
export function healthSampleView(h: HealthSampleRecord): HealthSample {
  return { at: iso(h.at), status: h.status, load1: h.load1, memFreeBytes: h.memFreeBytes, memTotalBytes: h.memTotalBytes, inflight: h.inflight };
}

/** One row of the query history. */
export function auditView(q: AuditRecord): AuditRow {
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
    error: commandError(q),
    result: (q.result ?? null) as QueryResult | null,
    resultTruncated: q.resultTruncated,
  };
}

/** One fan-out target as its row reads in the store (the same shape the stream's `result` events carry). */
export function targetView(q: FanoutTargetRecord): TargetResult {
  return {
    agentId: q.agentId,
    correlationId: q.correlationId,
    status: q.status,
    result: (q.result ?? null) as QueryResult | null,
    error: commandError(q),
    durationMs: q.durationMs,
    resultSeq: q.resultSeq,
  };
}

/** A fan-out with its status, counts per state and one row per target. */
export function fanoutView(f: FanoutRecord, targets: AuditRecord[]): FanoutView {
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

/** One page of a fan-out's targets, with its header and the counts of every target (`counts`, by state). */
export function fanoutPageView(f: FanoutRecord, counts: Partial<Record<QueryStatus, number>>, targets: FanoutTargetRecord[], nextAfter: string | null): FanoutPage {
  const all = emptyCounts();
  for (const [status, n] of Object.entries(counts) as [QueryStatus, number][]) all[countedAs(status)] += n;
  return { ...fanoutView(f, []), counts: all, targets: targets.map(targetView), nextAfter };
}
