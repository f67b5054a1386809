import { dirname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_MAX_INFLIGHT, type QueryResult } from "@uplink/protocol";
import type { Collector, QueryContext } from "../collectors/collector.js";
import { DEFAULT_WORKER_MEMORY_MB } from "../config.js";
import { AgentError, CollectorError } from "../errors.js";
import type { AgentInfo } from "./agent-info.js";
import { describeTable, type TableInfo } from "./table-def.js";
import { WorkerPool } from "./worker-pool.js";
import { PoolClosedError, WorkerExitedError, WorkerMemoryError, type QueryWorker } from "./worker-process.js";

/** An idle query worker exits after this long unused, giving its memory back. */
export const DEFAULT_WORKER_IDLE_MS = 60_000;

/** Options of {@link createHostCollector}. */
export interface HostCollectorOptions {
  /** The daemon's state for the `agent` table, asked for once per query on the main thread. */
  agentInfo: () => AgentInfo;
  /** Most query workers alive at once (default 4, the default maxInflight); extra queries wait for one. */
  poolSize?: number;
  /** An idle worker exits after this many ms unused (default 60 s; Infinity keeps idle workers for good). */
  idleTimeoutMs?: number;
  /** Directory the tables read as the host's `/` for host files (default `/`). */
  hostRoot?: string;
  /** Answer the tables that expose secrets or personal data (default false). */
  secretTablesEnabled?: boolean;
  /** Path of the compiled worker entry; defaults to {@link defaultWorkerPath}. */
  workerPath?: string;
  /**
   * Memory one worker may hold while it runs a query, in MiB (default {@link DEFAULT_WORKER_MEMORY_MB});
   * past it the query fails with `resource_limit` and its worker is replaced. 0 leaves workers unbounded.
   */
  workerMemoryMb?: number;
  /**
   * V8 settings of each worker besides its heap bound (default `WORKER_V8_FLAGS`: sized for a worker that
   * runs one short query at a time). The host-sql bench passes `[]` to time today's defaults beside them.
   */
  workerV8Flags?: readonly string[];
}

/** The `host` collector: a {@link Collector} that also lists its tables. */
export type HostCollector = Collector & {
  /**
   * Every table with its columns and description, and whether it answers on this platform. Asynchronous
   * because the table code is loaded only when asked: the daemon's own process never runs a table (its
   * workers do), so an idle agent does not hold their code.
   */
  tables(): Promise<TableInfo[]>;
  /** Most workers alive at once from now on (the hub's `welcome` sets the agent's maxInflight). */
  resize(size: number): void;
};

/**
 * Where the compiled query worker lives. The worker is a separate Node process, so it must load a
 * `.js` file: next to this module in `dist/sql/` at run time. When this module itself runs from
 * TypeScript source (vitest), the twin under `dist/` is used instead, so tests need `tsc -b` first
 * (the collector's tests run it in `beforeAll`).
 */
export function defaultWorkerPath(moduleUrl: string = import.meta.url): string {
  const here = fileURLToPath(moduleUrl);
  if (!here.endsWith(".ts")) return fileURLToPath(new URL("./query-worker.js", moduleUrl));
  const dir = dirname(here);
  const at = dir.lastIndexOf(`${sep}src${sep}`);
  const distDir = at < 0 ? dir : `${dir.slice(0, at)}${sep}dist${sep}${dir.slice(at + 5)}`;
  return join(distDir, "query-worker.js");
}

/**
 * Creates the `host` collector: read-only SQL over live host tables (docs/architecture.md, "Host SQL"). Each query runs in a
 * worker *process* of a small pool, never on the main thread.
 *
 * Why processes and not worker_threads: a runaway query (`WITH RECURSIVE` without end, a huge cross
 * join) spins inside SQLite's C code, where `Worker.terminate()` cannot reach it: the thread keeps
 * burning a core, `terminate()` never resolves and even `process.exit()` hangs joining it, and
 * better-sqlite3 exposes neither `sqlite3_interrupt` nor a progress handler. SIGKILL on a process is
 * the one stop that always works (osquery's watchdog does the same).
 *
 * When the deadline (`ctx.timeoutMs`) passes or `ctx.signal` aborts, the worker is killed and replaced
 * on next need, and the query rejects with `CollectorError("timeout" | "cancelled")`. `close()` kills
 * busy workers, retires idle ones and resolves once every process and handle is gone.
 */
export function createHostCollector(options: HostCollectorOptions): HostCollector {
  const memoryMb = options.workerMemoryMb ?? DEFAULT_WORKER_MEMORY_MB;
  const pool = new WorkerPool({
    workerPath: options.workerPath ?? defaultWorkerPath(),
    size: Math.max(1, options.poolSize ?? DEFAULT_MAX_INFLIGHT),
    idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_WORKER_IDLE_MS,
    memoryLimitBytes: memoryMb * 1024 * 1024,
    ...(options.workerV8Flags !== undefined ? { v8Flags: options.workerV8Flags } : {}),
  });
  let nextId = 1;
  let closed = false;

  async function query(sql: string, ctx: QueryContext): Promise<QueryResult> {
    if (closed) throw new CollectorError("internal", "the host collector is closed");
    const stop = new QueryStop(ctx);
    let worker: QueryWorker | undefined;
    try {
      worker = await pool.acquire(stop.signal);
      const request = worker.request({
        id: nextId++,
        sql,
        maxRows: ctx.maxRows,
        maxBytes: ctx.maxBytes,
        agent: { ...options.agentInfo(), pid: process.pid },
        heapLimitBytes: memoryMb * 1024 * 1024,
        hostRoot: options.hostRoot ?? "/",
        secretTablesEnabled: options.secretTablesEnabled ?? false,
      });
      const reply = await stop.race(request);
      pool.release(worker);
      worker = undefined;
      if (!reply.ok) throw new CollectorError(reply.code, reply.message);
      return reply.result;
    } catch (err) {
      // Whatever the worker was doing is abandoned: kill it so a runaway query stops burning CPU.
      if (worker !== undefined) pool.discard(worker);
      if (err instanceof AgentError) throw err;
      if (stop.signal.aborted) throw stop.error();
      if (err instanceof WorkerMemoryError) throw new CollectorError("resource_limit", err.message, { cause: err });
      if (err instanceof PoolClosedError || closed) throw new CollectorError("cancelled", "the host collector closed before the query finished");
      if (err instanceof WorkerExitedError) throw new CollectorError("internal", err.message, { cause: err });
      throw new CollectorError("internal", err instanceof Error ? err.message : String(err), { cause: err });
    } finally {
      stop.dispose();
    }
  }

  return {
    name: "host",
    query,
    tables: async () => {
      const { HOST_TABLES } = await import("./tables/index.js");
      return HOST_TABLES.map((def) => describeTable(def, process.platform));
    },
    resize: (size) => pool.resize(size),
    close() {
      closed = true;
      return pool.close();
    },
  };
}

/**
 * One query's stop condition: its own deadline timer or the caller's signal, whichever comes first,
 * folded into one AbortSignal with a code. A caller signal aborted with a timeout reason (an
 * `AbortSignal.timeout()` TimeoutError, or an error whose code or message is "timeout") counts as a
 * timeout; any other abort is a cancel.
 */
class QueryStop {
  readonly #controller = new AbortController();
  readonly #ctx: QueryContext;
  readonly #timer: NodeJS.Timeout;
  readonly #onAbort = (): void => this.#stop(isTimeoutReason(this.#ctx.signal.reason) ? "timeout" : "cancelled");
  #code: "timeout" | "cancelled" = "cancelled";

  constructor(ctx: QueryContext) {
    this.#ctx = ctx;
    // Clamped to setTimeout's range: beyond 2^31-1 ms Node would fire at once instead.
    this.#timer = setTimeout(() => this.#stop("timeout"), Math.min(Math.max(0, ctx.timeoutMs), 2 ** 31 - 1));
    if (ctx.signal.aborted) this.#onAbort();
    else ctx.signal.addEventListener("abort", this.#onAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Settles with `work`, or rejects as soon as the query must stop. */
  race<T>(work: Promise<T>): Promise<T> {
    const signal = this.#controller.signal;
    if (signal.aborted) return Promise.reject(this.error());
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(this.error());
      signal.addEventListener("abort", onAbort, { once: true });
      work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    });
  }

  /** The error the query rejects with once stopped. */
  error(): CollectorError {
    return this.#code === "timeout"
      ? new CollectorError("timeout", `the query did not finish within ${this.#ctx.timeoutMs} ms; its worker was killed`)
      : new CollectorError("cancelled", "the query was cancelled; its worker was killed");
  }

  dispose(): void {
    clearTimeout(this.#timer);
    this.#ctx.signal.removeEventListener("abort", this.#onAbort);
  }

  #stop(code: "timeout" | "cancelled"): void {
    if (this.#controller.signal.aborted) return;
    this.#code = code;
    this.#controller.abort(this.error());
  }
}

function isTimeoutReason(reason: unknown): boolean {
  if (typeof reason !== "object" || reason === null) return false;
  const r = reason as { name?: unknown; code?: unknown; message?: unknown };
  return r.name === "TimeoutError" || r.code === "timeout" || r.message === "timeout";
}
