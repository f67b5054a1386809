import { performance } from "node:perf_hooks";
import {
  buildResponse,
  commandRef,
  DEFAULT_MAX_INFLIGHT,
  parseHubToAgent,
  type Cancel,
  type CommandRef,
  type DispatchTable,
  type HubToAgent,
  type Outcome,
  type QueryResult,
  type SessionCommand,
  type SessionResponseFrame,
  type Welcome,
} from "@uplink/protocol";
import type { Logger } from "pino";
import type { Collector } from "./collectors/collector.js";
import { toWireError } from "./errors.js";
import { buildHealth } from "./health.js";
import { RecentIds } from "./recent-ids.js";

/** How many recent correlationIds the agent remembers to recognise a command delivered twice. */
export const RECENT_COMMANDS = 4096;

/** What a {@link CommandDispatcher} needs from its agent. */
export interface DispatcherOptions {
  /** The collectors commands can name, by their `name`. */
  collectors: readonly Collector[];
  /** Writes one response to the hub. Called exactly once per command that is answered. */
  send: (frame: SessionResponseFrame) => void;
  log: Logger;
  agentVersion: string;
  /** The deadline of a query whose command carries no `timeoutMs`. */
  queryTimeoutMs: number;
  maxResultRows: number;
  maxResultBytes: number;
  /** Queries allowed at once until the hub's `welcome` says otherwise. Default {@link DEFAULT_MAX_INFLIGHT}. */
  maxInflight?: number;
  /**
   * The most queries the agent runs at once whatever a `welcome` asks (its own `--max-workers`): past it,
   * queries are answered `busy` at once rather than left waiting for a worker. Default: no ceiling.
   */
  maxInflightCeiling?: number;
  /** Told of each `welcome`, after its `maxInflight` has been applied. */
  onWelcome?: (welcome: Welcome) => void;
}

/** One query that has started and not yet been answered. */
interface RunningQuery {
  readonly ref: CommandRef;
  readonly log: Logger;
  readonly startedAt: number;
  readonly controller: AbortController;
  timer?: NodeJS.Timeout;
  settled: boolean;
}

/**
 * Executes the hub's commands and answers each exactly once, through `buildResponse` only.
 *
 * - `health` runs at once in its own lane: it never waits behind queries and never counts against maxInflight.
 * - `query` checks its text and collector, is refused with `busy` at once past maxInflight, and otherwise runs
 *   with an AbortController that its deadline (`timeout`) or the hub's `cancel` (`cancelled`) trips.
 *   Whichever of completion, deadline and cancel comes first answers; the others are ignored.
 * - A frame that fails its schema is counted; when it names a command it is answered with `bad_command`.
 * - A command whose correlationId was seen recently (a redelivery, a replayed frame) is dropped and counted,
 *   never run twice. Answering it again would not help: the hub settles a command's pending entry with its
 *   first answer, so a second answer is an orphan it drops; and a first answer lost on its way means the
 *   connection broke, which has already failed the command on the hub (rule 8).
 *
 * The correlationId is echoed, never invented: a command without one is answered without one.
 */
export class CommandDispatcher {
  readonly #options: DispatcherOptions;
  readonly #collectors: ReadonlyMap<string, Collector>;
  readonly #running = new Set<RunningQuery>();
  readonly #byCorrelationId = new Map<string, RunningQuery>();
  readonly #table: DispatchTable<HubToAgent> = {
    welcome: (welcome) => this.#onWelcome(welcome),
    session_command: (command) => this.#onCommand(command),
    cancel: (cancel) => this.#onCancel(cancel),
  };
  readonly #recent = new RecentIds(RECENT_COMMANDS);
  #maxInflight: number;
  #invalidFrames = 0;
  #duplicateCommands = 0;

  constructor(options: DispatcherOptions) {
    this.#options = options;
    this.#collectors = new Map(options.collectors.map((c) => [c.name, c]));
    this.#maxInflight = options.maxInflight ?? DEFAULT_MAX_INFLIGHT;
  }

  /** Queries running now. */
  get inflight(): number {
    return this.#running.size;
  }

  /** The current cap on concurrent queries (the hub's `welcome` sets it). */
  get maxInflight(): number {
    return this.#maxInflight;
  }

  /** Frames that were not JSON or failed their schema, since start. */
  get invalidFrames(): number {
    return this.#invalidFrames;
  }

  /** Commands dropped because their correlationId had been delivered before, since start. */
  get duplicateCommands(): number {
    return this.#duplicateCommands;
  }

  /** Handles one text frame from the hub. Never throws, whatever the frame holds. */
  handleFrame(text: string): void {
    try {
      const parsed = parseHubToAgent(text);
      if (parsed.ok) this.#dispatch(parsed.message);
      else this.#onInvalid(parsed.error, parsed.raw);
    } catch (err) {
      this.#options.log.error({ err }, "failed to handle a frame from the hub");
    }
  }

  /**
   * Aborts every running query without answering: used when the connection is gone, since the hub has
   * already failed those commands (rule 8) and a late answer on a new connection would only be an orphan.
   */
  abortAll(reason: string): void {
    if (this.#running.size === 0) return;
    this.#options.log.info({ count: this.#running.size, reason }, "aborting running queries");
    for (const running of [...this.#running]) {
      this.#release(running);
      running.controller.abort(new Error(reason));
    }
  }

  #dispatch<M extends HubToAgent>(message: M): void {
    // TypeScript cannot correlate the table entry with the message's own type; the table's type guarantees it.
    (this.#table[message.type] as (message: M) => void)(message);
  }

  #onWelcome(welcome: Welcome): void {
    const ceiling = this.#options.maxInflightCeiling ?? Number.POSITIVE_INFINITY;
    this.#maxInflight = Math.min(welcome.maxInflight, ceiling);
    if (welcome.maxInflight > ceiling) {
      this.#options.log.warn(
        { hubMaxInflight: welcome.maxInflight, maxInflight: this.#maxInflight },
        "the hub allows more queries at once than this agent's --max-workers; queries beyond it are answered busy",
      );
    }
    this.#options.onWelcome?.(welcome);
  }

  #onInvalid(error: string, raw: unknown): void {
    this.#invalidFrames += 1;
    // A malformed cancel is not a command: answering it would give the command it names a second response.
    const isCancel = typeof raw === "object" && raw !== null && (raw as { type?: unknown }).type === "cancel";
    const ref = isCancel ? undefined : commandRef(raw);
    if (ref === undefined) {
      this.#options.log.warn({ error, invalidFrames: this.#invalidFrames }, "dropped an invalid frame from the hub");
      return;
    }
    const log = this.#commandLog(ref);
    log.warn({ error, invalidFrames: this.#invalidFrames }, "answering an invalid command with bad_command");
    this.#reply(ref, log, performance.now(), { ok: false, code: "bad_command", error });
  }

  #onCommand(command: SessionCommand): void {
    const startedAt = performance.now();
    const ref: CommandRef = { sessionId: command.sessionId, correlationId: command.correlationId };
    const log = this.#commandLog(ref);
    if (ref.correlationId !== undefined && !this.#recent.add(ref.correlationId)) {
      this.#duplicateCommands += 1;
      log.warn({ duplicateCommands: this.#duplicateCommands }, "dropped a command delivered twice");
      return;
    }
    if (command.kind === "health") {
      this.#reply(ref, log, startedAt, this.#health());
      return;
    }
    if (command.query.trim() === "") {
      this.#reply(ref, log, startedAt, { ok: false, code: "empty_query", error: "the query is empty" });
      return;
    }
    const collector = this.#collectors.get(command.collector);
    if (collector === undefined) {
      const known = [...this.#collectors.keys()].join(", ");
      const error = `no collector "${command.collector}" (this agent has: ${known})`;
      this.#reply(ref, log, startedAt, { ok: false, code: "unknown_collector", error });
      return;
    }
    const refusal = this.#admission(command);
    if (refusal !== undefined) {
      this.#reply(ref, log, startedAt, refusal);
      return;
    }
    this.#start(command, collector, ref, log, startedAt);
  }

  #health(): Outcome {
    try {
      const result = buildHealth({
        agentVersion: this.#options.agentVersion,
        inflight: this.#running.size,
        collectors: [...this.#collectors.keys()],
      });
      return { ok: true, result };
    } catch (err) {
      return { ok: false, ...toWireError(err) };
    }
  }

  /** Why a valid query cannot start now, or undefined when it can. */
  #admission(command: SessionCommand): Outcome | undefined {
    if (this.#running.size >= this.#maxInflight) {
      return { ok: false, code: "busy", error: `the agent already runs ${this.#maxInflight} queries` };
    }
    return undefined;
  }

  #start(command: SessionCommand, collector: Collector, ref: CommandRef, log: Logger, startedAt: number): void {
    const timeoutMs = command.timeoutMs ?? this.#options.queryTimeoutMs;
    const running: RunningQuery = { ref, log, startedAt, controller: new AbortController(), settled: false };
    running.timer = setTimeout(
      () => this.#settle(running, { ok: false, code: "timeout", error: `no answer within ${timeoutMs} ms` }),
      timeoutMs,
    );
    this.#running.add(running);
    if (ref.correlationId !== undefined) this.#byCorrelationId.set(ref.correlationId, running);
    log.debug({ collector: collector.name, timeoutMs }, "query started");

    // The executor turns a collector that throws synchronously into a rejection like any other failure.
    const work = new Promise<QueryResult>((resolve) => {
      resolve(
        collector.query(command.query, {
          signal: running.controller.signal,
          timeoutMs,
          maxRows: this.#options.maxResultRows,
          maxBytes: this.#options.maxResultBytes,
        }),
      );
    });
    work.then(
      (result) => this.#settle(running, { ok: true, result }),
      (err: unknown) => this.#settle(running, { ok: false, ...toWireError(err) }),
    );
  }

  #onCancel(cancel: Cancel): void {
    const running = this.#byCorrelationId.get(cancel.correlationId);
    if (running === undefined) {
      this.#options.log.debug({ correlationId: cancel.correlationId }, "cancel for a command not running; ignored");
      return;
    }
    this.#settle(running, { ok: false, code: "cancelled", error: "the hub cancelled the command" });
  }

  /** Answers a running query unless completion, deadline or cancel already did. */
  #settle(running: RunningQuery, outcome: Outcome): void {
    if (running.settled) return;
    this.#release(running);
    // Abort only after settling, so the collector's own rejection on abort is ignored rather than answered.
    if (!outcome.ok) running.controller.abort(new Error(outcome.code));
    this.#reply(running.ref, running.log, running.startedAt, outcome);
  }

  #release(running: RunningQuery): void {
    running.settled = true;
    clearTimeout(running.timer);
    this.#running.delete(running);
    if (running.ref.correlationId !== undefined) this.#byCorrelationId.delete(running.ref.correlationId);
  }

  #reply(ref: CommandRef, log: Logger, startedAt: number, outcome: Outcome): void {
    const durationMs = Math.round(performance.now() - startedAt);
    const frame = buildResponse(ref, { ...outcome, durationMs });
    try {
      this.#options.send(frame);
    } catch (err) {
      log.error({ err }, "failed to send a response");
      return;
    }
    const fields = { ok: frame.ok, code: frame.code, durationMs };
    if (frame.ok) log.debug(fields, "answered");
    else log.info({ ...fields, error: frame.error }, "answered with an error");
  }

  #commandLog(ref: CommandRef): Logger {
    return this.#options.log.child({ correlationId: ref.correlationId, sessionId: ref.sessionId });
  }
}
