import { performance } from "node:perf_hooks";
import { QueryResult } from "@uplink/protocol";
import {
  AgentAnsweredError,
  AgentBusyError,
  AgentOfflineError,
  CommandTimeoutError,
  HubError,
  NotFoundError,
} from "../errors.js";
import type { Logger } from "../logger.js";
import type { HubMetrics } from "../metrics.js";
import type { QueryStatus, Store } from "../store/store.js";
import type { CommandReply } from "../agents/pending-commands.js";
import type { CommandRouter } from "./command-router.js";

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
}

export interface QueryAnswer {
  correlationId: string;
  agentId: string;
  result: QueryResult;
  durationMs: number;
}

/**
 * Runs operator queries: records the audit row, dispatches, records the outcome, and turns the agent's
 * answer into a result or a HubError with the right status. The audit row is written before the caller
 * is answered, so nothing a caller was told is lost.
 */
export class QueryService {
  readonly #store: Store;
  readonly #router: CommandRouter;
  readonly #metrics: HubMetrics;
  readonly #log: Logger;
  readonly #auditResultMaxBytes: number;

  constructor(deps: { store: Store; router: CommandRouter; metrics: HubMetrics; log: Logger; auditResultMaxBytes: number }) {
    this.#store = deps.store;
    this.#router = deps.router;
    this.#metrics = deps.metrics;
    this.#log = deps.log;
    this.#auditResultMaxBytes = deps.auditResultMaxBytes;
  }

  async run(request: QueryRequest): Promise<QueryAnswer> {
    const { correlationId, agentId } = request;
    const log = this.#log.child({ correlationId, agentId, requestId: request.requestId ?? undefined });
    if (!this.#router.isConnected(agentId)) {
      const agent = await this.#store.findAgent(agentId);
      if (agent === undefined || agent.revokedAt !== null) throw new NotFoundError(`no agent ${agentId}`);
    }
    const startedAt = Date.now();
    const { sessionId, requester, requestId, collector, query } = request;
    await this.#write(() => this.#store.insertAudit({ correlationId, agentId, requester, sessionId, requestId, collector, query, createdAt: startedAt }));
    const t0 = performance.now();
    let reply: CommandReply;
    try {
      reply = await this.#router.dispatch(agentId, {
        correlationId,
        sessionId: request.sessionId,
        kind: "query",
        collector: request.collector,
        query: request.query,
        timeoutMs: request.timeoutMs,
        log,
      });
    } catch (err) {
      const error = err instanceof HubError ? err : new HubError("internal", 500, (err as Error).message, { cause: err });
      await this.#finish(correlationId, statusOf(error), performance.now() - t0, error, null);
      log.info({ code: error.code, status: error.status }, "query failed");
      throw error;
    }
    const durationMs = performance.now() - t0;
    const parsed = reply.ok ? QueryResult.safeParse(reply.result) : undefined;
    if (parsed?.success) {
      await this.#finish(correlationId, "ok", durationMs, null, parsed.data);
      log.info({ durationMs: round(durationMs), rows: parsed.data.rowCount }, "query answered");
      return { correlationId, agentId, result: parsed.data, durationMs: round(durationMs) };
    }
    const error = parsed === undefined ? errorOfReply(reply) : new AgentAnsweredError("bad_response", "agent answered with a malformed query result");
    await this.#finish(correlationId, statusOf(error), durationMs, error, null);
    log.info({ code: error.code, status: error.status }, "query answered with an error");
    throw error;
  }

  async #finish(correlationId: string, status: QueryStatus, durationMs: number, error: HubError | null, result: QueryResult | null): Promise<void> {
    let resultJson = result === null ? null : JSON.stringify(result);
    const resultTruncated = resultJson !== null && resultJson.length > this.#auditResultMaxBytes;
    if (resultTruncated) resultJson = null;
    await this.#write(() =>
      this.#store.finishAudit(correlationId, {
        status,
        finishedAt: Date.now(),
        durationMs: round(durationMs),
        errorCode: error?.code ?? null,
        errorMessage: error?.message ?? null,
        resultJson,
        resultTruncated,
      }),
    );
  }

  async #write(write: () => Promise<void>): Promise<void> {
    const t0 = performance.now();
    await write();
    this.#metrics.storeWriteSeconds.observe((performance.now() - t0) / 1000);
  }
}

/** The HubError an `ok:false` reply becomes: the agent's own code, with busy → 503 and timeout → 504. */
export function errorOfReply(reply: CommandReply): HubError {
  const message = reply.error ?? "agent answered an error without a message";
  if (reply.code === "busy") return new AgentBusyError(message);
  if (reply.code === "timeout") return new HubError("timeout", 504, message);
  return new AgentAnsweredError(reply.code ?? "internal", message);
}

function statusOf(error: HubError): QueryStatus {
  if (error instanceof AgentOfflineError) return "offline";
  if (error instanceof CommandTimeoutError || error.code === "timeout") return "timeout";
  return "error";
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
