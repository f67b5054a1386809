import { randomBytes, randomUUID } from "node:crypto";
import { countedAs, type FanoutCounts, type FanoutStatus, type TargetResult } from "@uplink/protocol";
import { BadRequestError, CommandCancelledError } from "../errors.js";
import type { EventLog } from "../events/event-log.js";
import type { Logger } from "../logger.js";
import type { HubMetrics } from "../metrics.js";
import type { FanoutRecord, QueryStatus, Store } from "../store/store.js";
import type { CommandRouter } from "./command-router.js";
import { auditFinishOf, runCommand, type CommandOutcome } from "./command-outcome.js";

/** Which agents a fan-out goes to: the union of the listed ids, the agents with all these labels, or all. */
export interface FanoutTargets {
  agentIds?: string[] | undefined;
  labels?: Record<string, string> | undefined;
  all?: boolean | undefined;
}

export interface FanoutRequest {
  query: string;
  collector: string;
  timeoutMs: number;
  targets: FanoutTargets;
  requester: string;
  requestId: string | null;
}

// A target's outcome and the counts per state are the REST API's shapes (protocol rest-queries.ts).
export { countedAs, type FanoutCounts, type FanoutStatus, type TargetResult };

export type FanoutEvent = { kind: "result"; target: TargetResult } | { kind: "done"; counts: FanoutCounts };

/** A result that landed and is waiting for the next store write. */
interface Landed {
  agentId: string;
  correlationId: string;
  outcome: CommandOutcome;
}

/**
 * A fan-out still collecting. Results that land while a store write is in progress wait in `landed`
 * and are stored together by the next write (one group commit, not one per target); each batch is
 * announced, in seq order, only after it is stored.
 */
interface RunningFanout {
  record: FanoutRecord;
  nextSeq: number;
  remaining: number;
  counts: FanoutCounts;
  listeners: Set<(event: FanoutEvent) => void>;
  landed: Landed[];
  draining: boolean;
  /** The targets still pending, by correlationId: aborting one cancels its command on the agent. */
  cancels: Map<string, AbortController>;
  /** Resolves once the fan-out is recorded finished and `done` was announced. */
  finished: Promise<void>;
  markFinished: () => void;
}

/** Commands sent per turn of the event loop while a fan-out goes out. */
const DISPATCH_BATCH = 500;

export function emptyCounts(): FanoutCounts {
  return { pending: 0, ok: 0, error: 0, timeout: 0, offline: 0, cancelled: 0 };
}

/**
 * Sends one query to many agents, each command with its own correlationId and deadline. Targets that
 * are offline are recorded `offline` at once; every other ends in `ok`, `error` or `timeout`. Each
 * result is in the store before anyone is told of it, so a stream can always be replayed from the store.
 */
export class FanoutService {
  readonly #running = new Map<string, RunningFanout>();
  readonly #idle: (() => void)[] = [];

  constructor(
    private readonly deps: { store: Store; router: CommandRouter; events: EventLog; metrics: HubMetrics; log: Logger; auditResultMaxBytes: number; replicaId: string },
  ) {}

  /**
   * Resolves the targets and records the fan-out with a pending row per target; resolves then, before any
   * command is sent (the caller answers 202 at once). The commands go out after, in batches that yield the
   * event loop between them: a fan-out's first answers, other requests and the agents' frames need not wait
   * for every one of its socket writes. Whatever happens after the record (a crash, a cancel, a shutdown),
   * each target ends recorded: cancelled before it was sent, closed out on restart, or failed with its socket.
   */
  async start(request: FanoutRequest): Promise<{ id: string; targetCount: number }> {
    const { store } = this.deps;
    const agentIds = await this.#resolve(request.targets);
    const id = `fan_${randomBytes(8).toString("hex")}`;
    const createdAt = Date.now();
    const record: FanoutRecord = { id, query: request.query, collector: request.collector, requester: request.requester, requestId: request.requestId, timeoutMs: request.timeoutMs, targetCount: agentIds.length, createdAt, finishedAt: null, replicaId: this.deps.replicaId };
    const targets = agentIds.map((agentId) => ({ correlationId: randomUUID(), agentId, requester: request.requester, sessionId: id, requestId: request.requestId, collector: request.collector, query: request.query, createdAt }));
    await this.deps.metrics.timeStoreWrite(() => store.createFanout(record, targets));
    const cancels = new Map(targets.map((t) => [t.correlationId, new AbortController()]));
    let markFinished = (): void => {};
    const finished = new Promise<void>((resolve) => (markFinished = resolve));
    const running: RunningFanout = { record, nextSeq: 0, remaining: targets.length, counts: { ...emptyCounts(), pending: targets.length }, listeners: new Set(), landed: [], draining: false, cancels, finished, markFinished };
    this.#running.set(id, running);
    this.deps.metrics.fanouts.inc();
    const log = this.deps.log.child({ fanoutId: id });
    log.info({ targetCount: targets.length, requestId: request.requestId ?? undefined }, "fan-out started");
    if (targets.length === 0) void this.#finish(running, log);
    else void this.#dispatch(running, request, targets, log);
    return { id, targetCount: targets.length };
  }

  /** Sends each target's command, DISPATCH_BATCH at a time, each batch after a turn of the event loop. */
  async #dispatch(running: RunningFanout, request: FanoutRequest, targets: { correlationId: string; agentId: string }[], log: Logger): Promise<void> {
    const { id } = running.record;
    for (let from = 0; from < targets.length; from += DISPATCH_BATCH) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      for (const t of targets.slice(from, from + DISPATCH_BATCH)) {
        const commandLog = log.child({ correlationId: t.correlationId, agentId: t.agentId });
        // A target cancelled before its turn still goes through runCommand: it ends `cancelled` at once.
        const signal = running.cancels.get(t.correlationId)!.signal;
        void runCommand(this.deps.router, t.agentId, { correlationId: t.correlationId, sessionId: id, kind: "query", collector: request.collector, query: request.query, timeoutMs: request.timeoutMs, log: commandLog, signal }).then(
          (outcome) => this.#land(running, t.agentId, t.correlationId, outcome, log),
        );
      }
    }
  }

  /** Live events of a running fan-out; undefined when it is not running here (finished, or unknown). */
  subscribe(id: string, listener: (event: FanoutEvent) => void): (() => void) | undefined {
    const running = this.#running.get(id);
    if (running === undefined) return undefined;
    running.listeners.add(listener);
    return () => running.listeners.delete(listener);
  }

  /**
   * Cancels a fan-out collected here: every target still pending is cancelled on its agent (`cancel`, through
   * the replica holding it in cluster mode) and recorded `cancelled`; targets that ended keep their outcome.
   * Resolves once the fan-out is finished (stored, `done` announced, `query.done` published) with true, or at
   * once with false when it is not collecting here (finished, unknown, or collected by another replica).
   */
  async cancel(id: string, by: string): Promise<boolean> {
    const running = this.#running.get(id);
    if (running === undefined) return false;
    const pending = [...running.cancels.values()];
    this.deps.log.info({ fanoutId: id, by, pending: pending.length }, "fan-out cancelled");
    const reason = new CommandCancelledError(`the fan-out was cancelled by ${by}`);
    for (const controller of pending) controller.abort(reason);
    await running.finished;
    return true;
  }

  /** Resolves when no fan-out is collecting (used at shutdown, after pending commands failed). */
  idle(): Promise<void> {
    if (this.#running.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** The target agents' ids: ids only are read for `all` and labels, each listed id is looked up. */
  async #resolve(targets: FanoutTargets): Promise<string[]> {
    const { store } = this.deps;
    if (!targets.all && targets.agentIds === undefined && targets.labels === undefined) {
      throw new BadRequestError("invalid body: targets needs agentIds, labels or all");
    }
    const chosen = new Set<string>();
    if (targets.all) for (const id of await store.listAgentIds({})) chosen.add(id);
    if (targets.labels !== undefined) for (const id of await store.listAgentIds({ labels: targets.labels })) chosen.add(id);
    const unknown: string[] = [];
    for (const agentId of new Set(targets.agentIds ?? [])) {
      if (chosen.has(agentId)) continue;
      const agent = await store.findAgent(agentId);
      if (agent === undefined || agent.revokedAt !== null) unknown.push(agentId);
      else chosen.add(agentId);
    }
    if (unknown.length > 0) throw new BadRequestError(`invalid body: unknown agents ${unknown.slice(0, 10).join(", ")}${unknown.length > 10 ? ", …" : ""}`);
    return [...chosen];
  }

  #land(running: RunningFanout, agentId: string, correlationId: string, outcome: CommandOutcome, log: Logger): void {
    running.cancels.delete(correlationId);
    running.landed.push({ agentId, correlationId, outcome });
    if (!running.draining) void this.#drain(running, log);
  }

  /** Stores and announces landed results, batch after batch, until none is waiting. */
  async #drain(running: RunningFanout, log: Logger): Promise<void> {
    running.draining = true;
    while (running.landed.length > 0) {
      const batch = running.landed.splice(0).map((l) => ({ ...l, resultSeq: ++running.nextSeq }));
      await this.deps.metrics.timeStoreWrite(() =>
        Promise.all(
          batch.map(({ agentId, correlationId, outcome, resultSeq }) =>
            this.deps.store
              .finishAudit(correlationId, { ...auditFinishOf(outcome, this.deps.auditResultMaxBytes), resultSeq })
              .catch((err: unknown) => log.error({ err, correlationId, agentId }, "storing a fan-out result failed")),
          ),
        ),
      );
      for (const { agentId, correlationId, outcome, resultSeq } of batch) {
        running.counts.pending--;
        running.counts[countedAs(outcome.status)]++;
        this.#announce(running, {
          kind: "result",
          target: {
            agentId,
            correlationId,
            status: outcome.status,
            result: outcome.status === "ok" ? outcome.result : null,
            error: outcome.status === "ok" ? null : { code: outcome.error.code, message: outcome.error.message },
            durationMs: outcome.durationMs,
            resultSeq,
          },
        });
      }
      running.remaining -= batch.length;
    }
    running.draining = false;
    if (running.remaining === 0 && this.#running.has(running.record.id)) await this.#finish(running, log);
  }

  async #finish(running: RunningFanout, log: Logger): Promise<void> {
    const { id, targetCount } = running.record;
    this.#running.delete(id);
    await this.deps.store.finishFanout(id, Date.now()).catch((err: unknown) => log.error({ err }, "recording the end of a fan-out failed"));
    this.#announce(running, { kind: "done", counts: running.counts });
    this.deps.events.publish("query.done", { fanoutId: id, targetCount, counts: running.counts });
    log.info({ counts: running.counts }, "fan-out done");
    running.markFinished();
    if (this.#running.size === 0) for (const resolve of this.#idle.splice(0)) resolve();
  }

  #announce(running: RunningFanout, event: FanoutEvent): void {
    for (const listener of running.listeners) {
      try {
        listener(event);
      } catch (err) {
        this.deps.log.error({ err }, "fan-out listener failed");
      }
    }
  }
}
