import type { AgentStatus, HealthResult, QueryStatus } from "@uplink/protocol";
import type { HealthSampleRecord } from "./health-samples.js";
import type { HistoryStore } from "./history-store.js";
import type { ScheduleStore } from "./schedule-store.js";

// Token scopes and kinds, agent and command states: the REST API's own words (protocol rest*.ts).
export { SCOPES, type Scope, type TokenKind, type AgentStatus, type QueryStatus, type DestinationKind } from "@uplink/protocol";
import type { DestinationKind, Scope, TokenKind } from "@uplink/protocol";

export interface TokenRecord {
  id: string;
  kind: TokenKind;
  /** Present for `api` tokens. */
  scope: Scope | null;
  name: string;
  /** sha256 of the secret, hex. Never the secret itself. */
  secretHash: string;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
  /** Enrollment tokens: the labels every agent enrolled with it gets (the operator's), or null. */
  labels: Record<string, string> | null;
  /** Enrollment tokens: how many enrollments it allows; null is unlimited. */
  maxUses: number | null;
  /** Enrollment tokens: how many agents it enrolled. */
  uses: number;
}


export interface AgentRecord {
  id: string;
  secretHash: string;
  hostname: string;
  /** The operator's labels (set at enrollment, changed through the API): the only ones targeting reads. */
  labels: Record<string, string>;
  /** What the agent itself reports (hello, enrollment body under a labelled token): shown, never targeted. */
  reportedLabels: Record<string, string>;
  status: AgentStatus;
  protocol: number | null;
  agentVersion: string | null;
  platform: string | null;
  arch: string | null;
  enrolledAt: number;
  connectedAt: number | null;
  lastSeenAt: number | null;
  lastHealth: HealthResult | null;
  replicaId: string | null;
  revokedAt: number | null;
  /**
   * The legacy traits its latest connection showed (`no_hello` and the reply shapes of
   * `LEGACY_REPLY_SHAPES`); `[]` when it speaks the current shape; null until a reply was read.
   */
  legacyShapes: string[] | null;
}

/** An agent as enrollment records it; `reportedLabels` defaults to none. */
export type NewAgent = Pick<AgentRecord, "id" | "secretHash" | "hostname" | "labels" | "enrolledAt"> & { reportedLabels?: Record<string, string> };

/** The fields a connection, a hello or a health poll changes. */
export type AgentPatch = Partial<
  Pick<
    AgentRecord,
    "hostname" | "labels" | "reportedLabels" | "status" | "protocol" | "agentVersion" | "platform" | "arch" | "connectedAt" | "lastSeenAt" | "lastHealth" | "replicaId" | "legacyShapes"
  >
>;

/** What a presence flush writes of one agent (agents/presence-writer.ts). */
export interface PresenceRow {
  id: string;
  lastSeenAt: number;
  /** Null: none reported since the last one written, which stays. */
  lastHealth: HealthResult | null;
}

export interface AgentFilter {
  status?: AgentStatus;
  /** Every pair must match. */
  labels?: Record<string, string>;
}

/** A place in the agent list's order (hostname, then id, both in byte order): the agents after it. */
export interface AgentKey {
  hostname: string;
  id: string;
}

/** One page of the agent list: at most `limit` agents after `after` (null: from the first). */
export interface AgentPageQuery extends AgentFilter {
  limit: number;
  after: AgentKey | null;
}

/** Agents (not revoked) per recorded status. */
export type AgentCounts = Record<AgentStatus, number>;


/** One row of the query audit: every command sent for an operator, single or part of a fan-out. */
export interface AuditRecord {
  /** Monotonic sequence, the `before` cursor of the history. */
  seq: number;
  correlationId: string;
  /** The fan-out this command belongs to, or null for a single-agent query. */
  fanoutId: string | null;
  /** Within a fan-out, the order in which results landed (1, 2, …): the id of its `result` stream event. */
  resultSeq: number | null;
  agentId: string;
  requester: string;
  sessionId: string;
  requestId: string | null;
  collector: string;
  query: string;
  status: QueryStatus;
  createdAt: number;
  finishedAt: number | null;
  durationMs: number | null;
  errorCode: string | null;
  errorMessage: string | null;
  /** The result as stored: null when it was larger than the audit cap (then `resultTruncated`). */
  result: unknown;
  resultTruncated: boolean;
}

export type NewAudit = Pick<AuditRecord, "correlationId" | "agentId" | "requester" | "sessionId" | "requestId" | "collector" | "query" | "createdAt"> & {
  fanoutId?: string | null;
  /** The hub (replica) that owns the command until it ends: whoever closes it out if that hub dies. */
  replicaId?: string | null;
};

export type AuditFinish = Pick<AuditRecord, "status" | "finishedAt" | "durationMs" | "errorCode" | "errorMessage"> & {
  /** Serialised result, already capped by the caller; null when none or over the cap. */
  resultJson: string | null;
  resultTruncated: boolean;
  /** Fan-out targets only: the order in which this result landed. */
  resultSeq?: number | null;
};

/** A fan-out target as a page of the fan-out shows it: the columns of its outcome only. */
export type FanoutTargetRecord = Pick<AuditRecord, "agentId" | "correlationId" | "status" | "result" | "errorCode" | "errorMessage" | "durationMs" | "resultSeq">;

/** One query sent to many agents. Its targets are audit rows carrying its id. */
export interface FanoutRecord {
  id: string;
  query: string;
  collector: string;
  requester: string;
  requestId: string | null;
  timeoutMs: number;
  targetCount: number;
  createdAt: number;
  finishedAt: number | null;
  /** The hub (replica) collecting it (null: recorded without one); a cancel of it is sent there. */
  replicaId: string | null;
}

/** A fan-out as recorded at its start, with the hub (replica) coordinating it. */
export type NewFanout = Omit<FanoutRecord, "finishedAt" | "replicaId"> & { replicaId?: string | null };

/**
 * Why open work is closed out by a hub other than the one running it: `hub_restarted` (the embedded hub
 * found it at start-up, left by its previous process) or `replica_lost` (a cluster replica died with it).
 */
export interface CloseOut {
  code: "hub_restarted" | "replica_lost";
  message: string;
  at: number;
}

/** What one close-out ended: single-agent commands, and fan-outs it finished. */
export interface ClosedWork {
  commands: Pick<AuditRecord, "correlationId" | "agentId">[];
  fanouts: Pick<FanoutRecord, "id" | "targetCount">[];
}

/** Every hub event type. */
export const HUB_EVENT_TYPES = ["agent.connected", "agent.disconnected", "agent.health_changed", "query.done", "schedule.result", "policy.changed"] as const;
export type HubEventType = (typeof HUB_EVENT_TYPES)[number];

/** One entry of the hub event log (bounded by the pruner); `seq` is its SSE id. */
export interface HubEventRecord {
  seq: number;
  type: HubEventType;
  data: Record<string, unknown>;
  createdAt: number;
}

export type NewHubEvent = Omit<HubEventRecord, "seq">;

/**
 * A web console session: an API token exchanged for a cookie `<id>.<secret>`. Only the secret's hash is
 * kept; the session acts with its token's name and scope while both are live.
 */
export interface SessionRecord {
  id: string;
  tokenId: string;
  /** sha256 of the cookie's secret, hex. */
  secretHash: string;
  /** What state-changing requests made with the cookie send as X-CSRF-Token. */
  csrfToken: string;
  createdAt: number;
  expiresAt: number;
}

/**
 * A place events are pushed to (destinations/). Its delivery reads the store's outbox after `cursor`;
 * in cluster mode exactly one replica delivers it at a time, the one holding its lease.
 */
export interface DestinationRecord {
  id: string;
  kind: DestinationKind;
  /** Webhooks: the URL and the HMAC secret (kept to sign; never shown). Null for files. */
  url: string | null;
  secret: string | null;
  /** Files: the NDJSON file. Null for webhooks. */
  path: string | null;
  createdAt: number;
  /** The seq of the last event delivered (outbox rows after it are still owed). */
  cursor: number;
  lastError: string | null;
  lastErrorAt: number | null;
  /** The replica delivering it, until `leaseUntil` (epoch ms); null when none holds it. */
  claimedBy: string | null;
  leaseUntil: number | null;
}

export type NewDestination = Pick<DestinationRecord, "id" | "kind" | "url" | "secret" | "path" | "createdAt">;

/**
 * What the store keeps of one `Idempotency-Key`: who presented it, a fingerprint of the request, and
 * either the claim of the request still running or the response it got (sealed: only a holder of the
 * requester's credential can open it; see api/idempotency.ts).
 */
export interface IdempotencyRecord {
  key: string;
  /** The token (API token, or the enrollment token of an enrollment) that presented the key. */
  requester: string;
  /** sha256 over method, path and the canonical JSON body, hex. */
  fingerprint: string;
  /** Who runs (or ran) the request: `<hubId>:<uuid>`, one per request. */
  owner: string;
  state: "running" | "done";
  createdAt: number;
  /** Running: when the claim lapses (its runner is presumed dead). Done: when the record may be pruned. */
  expiresAt: number;
  /** The sealed stored response; null while running. */
  response: string | null;
}

export type IdempotencyClaim = Pick<IdempotencyRecord, "key" | "requester" | "fingerprint" | "owner" | "createdAt" | "expiresAt">;

export interface AuditQuery {
  agentId?: string;
  status?: QueryStatus;
  limit: number;
  /** Only rows with seq below this. */
  before?: number;
}

/**
 * The hub's authoritative record. Every method is async so that a networked implementation
 * (PostgreSQL, cluster mode) fits behind it; the embedded one is SQLite.
 * A method resolves only once the write is durable against a process crash.
 */
export interface Store {
  /** True when the store can serve reads and writes. */
  ready(): Promise<boolean>;
  close(): Promise<void>;

  createToken(token: TokenRecord): Promise<void>;
  findToken(id: string): Promise<TokenRecord | undefined>;
  listTokens(): Promise<TokenRecord[]>;
  /** Marks the token revoked; false when no live token had that id. */
  revokeToken(id: string, at: number): Promise<boolean>;
  /**
   * Counts one enrollment against an enrollment token, atomically: true when the token was live at `now`
   * (not revoked, not expired) and had a use left; false, and nothing changed, otherwise.
   */
  consumeEnrollToken(id: string, now: number): Promise<boolean>;

  /** Records a console session. */
  createSession(session: SessionRecord): Promise<void>;
  findSession(id: string): Promise<SessionRecord | undefined>;
  /** Ends a session; false when there was none. */
  deleteSession(id: string): Promise<boolean>;
  /** Ends every session of a token (it was revoked); resolves how many. */
  deleteTokenSessions(tokenId: string): Promise<number>;
  /** Drops sessions that expired before `now`; resolves how many. */
  pruneSessions(now: number): Promise<number>;

  createAgent(agent: NewAgent): Promise<void>;
  findAgent(id: string): Promise<AgentRecord | undefined>;
  /** Every agent not revoked that matches, by hostname then id. */
  listAgents(filter: AgentFilter): Promise<AgentRecord[]>;
  /** A page of {@link listAgents} (keyset: an index range of the list's order, whatever the page's place). */
  listAgentsPage(query: AgentPageQuery): Promise<AgentRecord[]>;
  /** How many agents not revoked with these labels (every pair) are in each recorded status. */
  countAgents(labels: Record<string, string>): Promise<AgentCounts>;
  /** The agent's newest `limit` health samples, oldest first. */
  listHealthSamples(agentId: string, limit: number): Promise<HealthSampleRecord[]>;
  /** The ids of the agents `listAgents` answers, in its order: a fan-out's targets without reading whole rows. */
  listAgentIds(filter: Pick<AgentFilter, "labels">): Promise<string[]>;
  updateAgent(id: string, patch: AgentPatch): Promise<void>;
  /**
   * Writes the batched presence of agents held by `replicaId`, in one statement: `lastSeenAt` (never
   * moved back) and `lastHealth` (kept where the row has null), and appends a health sample of each row
   * with a health result (one multi-row insert; older samples are never rewritten, the pruner drops them by
   * age). An agent recorded as held by another replica is left alone: it moved, and its new holder writes it.
   */
  recordPresence(replicaId: string, rows: PresenceRow[]): Promise<void>;
  /** Marks the agent revoked and offline, next in revocation order ({@link revokedSince}); false when no live agent had that id. */
  revokeAgent(id: string, at: number): Promise<boolean>;
  /** Start-up: agents recorded as held by this replica (or, for the embedded store, by anyone) are offline. */
  markOffline(replicaId: string | null): Promise<void>;

  insertAudit(row: NewAudit): Promise<void>;
  /**
   * Records how a pending command ended. The first end wins: a row already ended (closed out by another
   * hub after this one was taken for dead) is left as it is.
   */
  finishAudit(correlationId: string, finish: AuditFinish): Promise<void>;
  listAudit(query: AuditQuery): Promise<AuditRecord[]>;
  findAudit(correlationId: string): Promise<AuditRecord | undefined>;

  /** Records a fan-out and one pending audit row per target, atomically. */
  createFanout(fanout: NewFanout, targets: NewAudit[]): Promise<void>;
  finishFanout(id: string, finishedAt: number): Promise<void>;
  findFanout(id: string): Promise<FanoutRecord | undefined>;
  /** Every target of a fan-out: landed results in landing order, then the pending ones. */
  listFanoutTargets(id: string): Promise<AuditRecord[]>;
  /** Landed results with resultSeq above `afterResultSeq`, in landing order (stream replay). */
  listFanoutResults(id: string, afterResultSeq: number): Promise<AuditRecord[]>;
  /**
   * A page of a fan-out's targets in agent-id order (byte order): at most `limit` with an agentId above
   * `afterAgentId` (null: from the first). Reads an index range, whatever the fan-out's size.
   */
  listFanoutTargetPage(id: string, afterAgentId: string | null, limit: number): Promise<FanoutTargetRecord[]>;
  /** How many of a fan-out's targets are in each state (states with none are left out). */
  countFanoutTargets(id: string): Promise<Partial<Record<QueryStatus, number>>>;

  /**
   * Appends events in order and returns them with their seq. Those of a type in `outboxTypes` are also
   * written to the destinations' outbox, in the same transaction: an event is in both or in neither.
   * `background` (the scheduler's events): the store may hold the write a few milliseconds to commit it
   * with other background work.
   */
  appendEvents(events: NewHubEvent[], outboxTypes?: readonly HubEventType[], background?: boolean): Promise<HubEventRecord[]>;
  /** Events with seq above `afterSeq`, oldest first. */
  listEvents(afterSeq: number, limit: number): Promise<HubEventRecord[]>;

  /**
   * Atomically claims an idempotency key for a request about to run: records `claim` as running when the
   * key is unknown or its record expired before `now`, and resolves undefined. Otherwise resolves the
   * record that holds the key (running elsewhere, or done), untouched.
   */
  claimIdempotencyKey(claim: IdempotencyClaim, now: number): Promise<IdempotencyRecord | undefined>;
  /** Stores the final response of a claim still held by `owner`; false when the claim was lost (lapsed, taken over). */
  completeIdempotencyKey(key: string, owner: string, response: string, expiresAt: number): Promise<boolean>;
  /** Drops a claim still held by `owner` (the request ended without a response worth keeping). */
  releaseIdempotencyKey(key: string, owner: string): Promise<void>;
  findIdempotencyKey(key: string): Promise<IdempotencyRecord | undefined>;
  /** Drops records that expired before `now`; resolves how many. */
  pruneIdempotencyKeys(now: number): Promise<number>;
  /** Drops every running claim (start-up of the embedded store: the process that held them is gone). */
  dropIdempotencyClaims(): Promise<void>;

  /**
   * Crash recovery, atomically: every audit row still `pending` that `replicaId` owns (null: every one)
   * becomes `error` with `closeOut.code`; each fan-out target so closed gets the next resultSeq of its
   * fan-out, and every unfinished fan-out of that owner is finished. A row or fan-out is closed once
   * however many hubs run this at the same moment; each gets back only what it closed itself.
   */
  closeOpenWork(replicaId: string | null, closeOut: CloseOut): Promise<ClosedWork>;
  /** The hubs (replicas) recorded as owning a pending command or an unfinished fan-out. */
  openWorkOwners(): Promise<string[]>;
  /** Which of these agents are revoked (reconciling newly held sockets against the store). */
  revokedAmong(agentIds: string[]): Promise<string[]>;
  /**
   * Agents revoked after `cursor` (a cursor an earlier answer or {@link revocationCursor} gave; 0 for every
   * revocation), oldest first, at most `limit`; the answer's `cursor` is where the next call starts (the
   * same one when none). Revocations become visible in cursor order: once an answer has gone past one, none
   * before it can appear later, so a reader that polls with the cursors it gets misses none. The read
   * costs the revocations it returns, not the agents.
   */
  revokedSince(cursor: number, limit: number): Promise<{ agentIds: string[]; cursor: number }>;
  /** The cursor past every revocation so far: where a reader with no use for the older ones starts. */
  revocationCursor(): Promise<number>;

  /**
   * Records a destination whose cursor is the newest event seq at this moment: it gets the events
   * appended after its creation, none before.
   */
  createDestination(destination: NewDestination): Promise<DestinationRecord>;
  findDestination(id: string): Promise<DestinationRecord | undefined>;
  /** Every destination, oldest first. */
  listDestinations(): Promise<DestinationRecord[]>;
  /** False when there was none with that id. */
  deleteDestination(id: string): Promise<boolean>;
  /**
   * Takes or renews the lease on a destination for `leaseMs` from now (the store's clock): true when the
   * destination exists and was free, lapsed, or already held by `replicaId`; false otherwise (untouched).
   */
  claimDestination(id: string, replicaId: string, leaseMs: number): Promise<boolean>;
  /** Gives up the leases `replicaId` holds (null: every lease; the embedded store at start-up). */
  releaseDestinations(replicaId: string | null): Promise<void>;
  /**
   * Moves the cursor forward to `seq` (never back) and clears the last error, while `replicaId` holds the
   * lease; false when it does not (lease lost, destination deleted): the caller must stop delivering.
   */
  advanceDestination(id: string, replicaId: string, seq: number): Promise<boolean>;
  /** Records why an attempt failed, while `replicaId` holds the lease; false as for {@link advanceDestination}. */
  recordDestinationFailure(id: string, replicaId: string, error: string, at: number): Promise<boolean>;
  /** Outbox events with seq above `afterSeq`, oldest first. */
  listOutbox(afterSeq: number, limit: number): Promise<HubEventRecord[]>;
  /** Outbox events not yet delivered, summed over destinations, per kind. */
  destinationBacklog(): Promise<Record<DestinationKind, number>>;
  /**
   * Drops outbox events every destination has delivered (all of them when there is none: a destination
   * created later starts after them), at most `limit`; resolves how many.
   */
  pruneOutbox(limit: number): Promise<number>;

  /** Retention of the audit, fan-outs and events: the pruner's statements (store/pruner.ts). */
  readonly history: HistoryStore;
  /** Schedules and policies, their runs and the state they leave (store/schedule-store.ts). */
  readonly schedules: ScheduleStore;
}
