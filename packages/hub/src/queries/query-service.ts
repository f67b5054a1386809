import type { QueryResult } from "@uplink/protocol";
import { NotFoundError } from "../errors.js";
import type { EventLog } from "../events/event-log.js";
import type { CancelSignal, CommandRequest } from "../agents/pending-commands.js";
import type { Logger } from "../logger.js";
import type { HubMetrics } from "../metrics.js";
import type { Store } from "../store/store.js";
import type { CommandRouter } from "./command-router.js";
import { auditFinishOf, runCommand } from "./command-outcome.js";

/** One operator query to one agent. The correlationId is made by the caller (so it can be sent on errors too). */
export interface QueryRequest {
  correlationId: string;
  agentId: string;
  query: string;
  collector: string;
  timeoutMs: number;
  sessionId: string;
  requester: string;
  requestId: string | null;
  /** Aborted when the caller disconnects: the command is cancelled and recorded `cancelled`. */
  signal?: CancelSignal | undefined;
}

/** A query's answer; `resultJson` is `result` as JSON, made once for the audit and the REST answer. */
export interface QueryAnswer {
  correlationId: string;
  agentId: string;
  result: QueryResult;
  resultJson: string;
  durationMs: number;
}

export interface QueryServiceDeps {
  store: Store;
  router: CommandRouter;
  events: EventLog;
  metrics: HubMetrics;
  log: Logger;
  auditResultMaxBytes: number;
  /** This hub (replica): recorded as the owner of every command it starts, for crash recovery. */
  replicaId: string;
}

/**
 * Runs operator queries to one agent: records the audit row, dispatches, records the outcome, and
 * returns the result or throws the HubError with the right status. The outcome is in the store before
 * the caller is answered, so nothing a caller was told is lost.
 */
export class QueryService {
  readonly #deps: QueryServiceDeps;

  constructor(deps: QueryServiceDeps) {
    this.#deps = deps;
  }

  async run(request: QueryRequest): Promise<QueryAnswer> {
    const { store, router, events, log } = this.#deps;
    const { correlationId, agentId, sessionId, requester, collector, query } = request;
    const requestId = request.requestId ?? undefined;
    if (!router.holds(agentId)) {
      const agent = await store.findAgent(agentId);
      if (agent === undefined || agent.revokedAt !== null) throw new NotFoundError(`no agent ${agentId}`);
    }
    await this.#deps.metrics.timeStoreWrite(() => store.insertAudit({ correlationId, agentId, requester, sessionId, requestId: request.requestId, collector, query, createdAt: Date.now(), replicaId: this.#deps.replicaId }));
    const outcome = await runCommand(router, agentId, new QueryCommand(request, log));
    await this.#deps.metrics.timeStoreWrite(() => store.finishAudit(correlationId, auditFinishOf(outcome, this.#deps.auditResultMaxBytes)));
    events.publish("query.done", { correlationId, agentId, status: outcome.status, durationMs: outcome.durationMs });
    // The answer's one line carries the command's fields itself (see QueryCommand).
    if (outcome.status === "ok") {
      log.info({ correlationId, agentId, requestId, durationMs: outcome.durationMs, rows: outcome.result.rowCount }, "query answered");
      return { correlationId, agentId, result: outcome.result, resultJson: outcome.resultJson, durationMs: outcome.durationMs };
    }
    log.info({ correlationId, agentId, requestId, status: outcome.status, code: outcome.error.code, httpStatus: outcome.error.status }, "query failed");
    throw outcome.error;
  }
}

/**
 * The command of one operator query. Every line of a command's path carries its correlationId, agentId
 * and requestId; the child logger that carries them is made only when a line of the path is logged (a
 * timeout, a cancel, a cluster hop), since making one per request cost more than the answered query's
 * own line (issue 15). A class, not an object literal with a getter: V8 makes such a literal the slow way.
 */
class QueryCommand implements CommandRequest {
  readonly kind = "query";
  readonly correlationId: string;
  readonly sessionId: string;
  readonly collector: string;
  readonly query: string;
  readonly timeoutMs: number;
  readonly signal: CancelSignal | undefined;
  readonly #request: QueryRequest;
  readonly #parent: Logger;
  #log: Logger | undefined;

  constructor(request: QueryRequest, parent: Logger) {
    this.correlationId = request.correlationId;
    this.sessionId = request.sessionId;
    this.collector = request.collector;
    this.query = request.query;
    this.timeoutMs = request.timeoutMs;
    this.signal = request.signal;
    this.#request = request;
    this.#parent = parent;
  }

  get log(): Logger {
    const { correlationId, agentId, requestId } = this.#request;
    return (this.#log ??= this.#parent.child({ correlationId, agentId, requestId: requestId ?? undefined }));
  }
}

/**
 * The JSON text of a {@link QueryAnswer} as the REST API answers it (`QueryAnswer` of the protocol, its
 * fields in that order), around the result's JSON as made once: the result is not stringified again.
 */
export function answerJson(answer: QueryAnswer): string {
  return `{"correlationId":${JSON.stringify(answer.correlationId)},"agentId":${JSON.stringify(answer.agentId)},"result":${answer.resultJson},"durationMs":${JSON.stringify(answer.durationMs)}}`;
}
