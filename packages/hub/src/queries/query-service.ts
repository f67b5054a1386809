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
    const { store, router, events } = this.#deps;
    const { correlationId, agentId, sessionId, requester, requestId, collector, query } = request;
    // Every line of the command's path carries these. The answered query logs one line, with them as its
    // fields; a child logger (for the lines of a timeout, a cancel, a cluster hop) is made only when one is
    // logged: making one per request cost more than the line (issue 15).
    const fields = { correlationId, agentId, requestId: requestId ?? undefined };
    const parent = this.#deps.log;
    let commandLog: Logger | undefined;
    if (!router.holds(agentId)) {
      const agent = await store.findAgent(agentId);
      if (agent === undefined || agent.revokedAt !== null) throw new NotFoundError(`no agent ${agentId}`);
    }
    await this.#deps.metrics.timeStoreWrite(() => store.insertAudit({ correlationId, agentId, requester, sessionId, requestId, collector, query, createdAt: Date.now(), replicaId: this.#deps.replicaId }));
    const command: CommandRequest = {
      correlationId,
      sessionId,
      kind: "query",
      collector,
      query,
      timeoutMs: request.timeoutMs,
      get log() {
        return (commandLog ??= parent.child(fields));
      },
      signal: request.signal,
    };
    const outcome = await runCommand(router, agentId, command);
    await this.#deps.metrics.timeStoreWrite(() => store.finishAudit(correlationId, auditFinishOf(outcome, this.#deps.auditResultMaxBytes)));
    events.publish("query.done", { correlationId, agentId, status: outcome.status, durationMs: outcome.durationMs });
    if (outcome.status === "ok") {
      parent.info({ ...fields, durationMs: outcome.durationMs, rows: outcome.result.rowCount }, "query answered");
      return { correlationId, agentId, result: outcome.result, resultJson: outcome.resultJson, durationMs: outcome.durationMs };
    }
    parent.info({ ...fields, status: outcome.status, code: outcome.error.code, httpStatus: outcome.error.status }, "query failed");
    throw outcome.error;
  }
}

/**
 * The JSON text of a {@link QueryAnswer} as the REST API answers it (`QueryAnswer` of the protocol, its
 * fields in that order), around the result's JSON as made once: the result is not stringified again.
 */
export function answerJson(answer: QueryAnswer): string {
  return `{"correlationId":${JSON.stringify(answer.correlationId)},"agentId":${JSON.stringify(answer.agentId)},"result":${answer.resultJson},"durationMs":${JSON.stringify(answer.durationMs)}}`;
}
