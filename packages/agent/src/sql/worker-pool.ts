import { fork, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { inSingleExecutable, WORKER_ROLE, WORKER_ROLE_ENV } from "../single-executable.js";
import type { WorkerReply, WorkerRequest } from "./worker-messages.js";

/** A worker process died (crashed, or was killed by the pool) while a request was pending. */
export class WorkerExitedError extends Error {}

/** The pool is closing or closed; no worker will be handed out again. */
export class PoolClosedError extends Error {}

/** How long a retiring worker may take to exit after its channel closes before it is killed. */
const RETIRE_GRACE_MS = 2_000;
/** How much of a worker's stderr is kept to explain an unexpected exit. */
const STDERR_TAIL_CHARS = 2_048;

type Refable = { ref?(): void; unref?(): void } | null | undefined;

/**
 * One forked query worker process. It answers one request at a time; `exited` resolves once the
 * process is gone and its stdio and IPC handles are closed.
 */
export class QueryWorker {
  /** Resolves once the process has exited and its stderr and IPC handles are closed; never rejects. */
  readonly exited: Promise<void>;
  /** Set by the pool while the worker rests idle; cleared when it is handed out or exits. */
  idleTimer: NodeJS.Timeout | undefined;
  #child: ChildProcess;
  #pending: { id: number; resolve(r: WorkerReply): void; reject(e: Error): void } | undefined;
  #stderr = "";
  #gone = false;

  constructor(path: string, onExit: (w: QueryWorker) => void) {
    this.#child = launchWorker(path);
    this.#child.stderr?.setEncoding("utf8");
    this.#child.stderr?.on("data", (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-STDERR_TAIL_CHARS);
    });
    this.#child.on("message", (reply: WorkerReply) => {
      const pending = this.#pending;
      if (pending === undefined || reply.id !== pending.id) return;
      this.#pending = undefined;
      pending.resolve(reply);
    });
    this.exited = new Promise((resolve) => {
      const finish = (why: string): void => {
        if (this.#gone) return;
        this.#gone = true;
        clearTimeout(this.idleTimer);
        const tail = this.#stderr.trim();
        this.#pending?.reject(new WorkerExitedError(`query worker ${why}${tail === "" ? "" : `: ${tail}`}`));
        this.#pending = undefined;
        onExit(this);
        // libuv closes the process and pipe handles in the loop's close phase, after these events; two
        // hops later none of them is listed by process.getActiveResourcesInfo() any more.
        setImmediate(() => setImmediate(resolve));
      };
      // Wait for 'exit', stderr's 'close' and the IPC 'disconnect' rather than for 'close': Node never emits
      // 'close' after the parent itself called disconnect() (it counts the channel closed only on EOF).
      let exitWhy: string | undefined;
      let open = 1 + (this.#child.stderr === null ? 0 : 1) + (this.#child.connected ? 1 : 0);
      const closed = (): void => {
        open -= 1;
        if (open === 0) finish(exitWhy ?? "exited");
      };
      this.#child.once("exit", (code, signal) => {
        exitWhy = signal === null ? `exited with code ${code}` : `was killed by ${signal}`;
        closed();
      });
      this.#child.stderr?.once("close", closed);
      if (this.#child.connected) this.#child.once("disconnect", closed);
      // A process that could not be spawned emits 'error' and may never emit 'exit'; later errors (a failed
      // kill of a process already gone) need no action but must be listened to, or they would throw.
      this.#child.on("error", (err) => {
        if (this.#child.pid === undefined) finish(`could not start: ${err.message}`);
      });
    });
  }

  /** The worker's process id (undefined if it never started). */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** True once the process has exited. */
  get gone(): boolean {
    return this.#gone;
  }

  /** Sends one request; rejects with {@link WorkerExitedError} if the worker dies before answering. */
  request(req: WorkerRequest): Promise<WorkerReply> {
    if (this.#gone) return Promise.reject(new WorkerExitedError("query worker is gone"));
    if (this.#pending !== undefined) return Promise.reject(new Error("query worker is busy"));
    return new Promise((resolve, reject) => {
      this.#pending = { id: req.id, resolve, reject };
      this.#child.send(req, (err) => {
        if (err === null || this.#pending?.id !== req.id) return;
        this.#pending = undefined;
        reject(new WorkerExitedError(`could not send to the query worker: ${err.message}`));
      });
    });
  }

  /** Busy workers keep the event loop alive; idle ones must not keep a finished process from exiting. */
  setRef(ref: boolean): void {
    for (const handle of [this.#child, this.#child.channel, this.#child.stderr] as Refable[]) {
      if (ref) handle?.ref?.();
      else handle?.unref?.();
    }
  }

  /** Ends the process at once, whatever it is doing (a runaway query cannot be interrupted any other way). */
  kill(): void {
    if (!this.#gone) this.#child.kill("SIGKILL");
  }

  /** Closes the channel so an idle worker exits by itself; kills it if it has not within a grace period. */
  retire(): void {
    if (this.#gone) return;
    // Ref again so whoever awaits `exited` (close()) is not cut short by an otherwise empty event loop.
    this.setRef(true);
    if (this.#child.connected) this.#child.disconnect();
    const timer = setTimeout(() => this.kill(), RETIRE_GRACE_MS);
    void this.exited.then(() => clearTimeout(timer));
  }
}

/**
 * How a query worker process is started: `fork` of the compiled worker script, or, inside the single
 * executable (where there is no script to fork), the executable itself started in worker mode through
 * an environment switch that `sea-main` reads. Either way the child talks JSON over an IPC channel.
 */
export function launchWorker(path: string): ChildProcess {
  const stdio = ["ignore", "ignore", "pipe", "ipc"] as const;
  if (inSingleExecutable()) {
    return spawn(process.execPath, [], { stdio: [...stdio], serialization: "json", env: { ...process.env, [WORKER_ROLE_ENV]: WORKER_ROLE } });
  }
  // execArgv: [] so the worker never inherits the parent's --inspect or loader flags; stdout is unused.
  return fork(path, [], { execArgv: [], stdio: [...stdio], serialization: "json" });
}

/** Sizing of a {@link WorkerPool}. */
export interface WorkerPoolOptions {
  /** Absolute path of the compiled worker entry (query-worker.js). */
  workerPath: string;
  /** Most workers alive at once. */
  size: number;
  /** An idle worker exits after this long unused (Infinity keeps it for good). */
  idleTimeoutMs: number;
}

interface Waiter {
  resolve(w: QueryWorker): void;
  reject(e: unknown): void;
  signal: AbortSignal;
  onAbort(): void;
}

/**
 * A small pool of query worker processes: spawned lazily, kept while idle (until `idleTimeoutMs`),
 * replaced on next need after one is killed. Callers beyond `size` wait in FIFO order.
 */
export class WorkerPool {
  readonly #options: WorkerPoolOptions;
  /** Every process not yet exited, including killed ones still dying (close() waits for those too). */
  readonly #all = new Set<QueryWorker>();
  /** Killed workers that have not exited yet; they no longer count against `size`. */
  readonly #dying = new Set<QueryWorker>();
  readonly #idle: QueryWorker[] = [];
  readonly #waiters: Waiter[] = [];
  #closing: Promise<void> | undefined;

  constructor(options: WorkerPoolOptions) {
    this.#options = options;
  }

  /** Workers alive now, idle or busy (not counting killed ones still exiting). */
  get size(): number {
    return this.#all.size - this.#dying.size;
  }

  /** Hands out an idle worker, a new one, or waits for one; rejects with `signal.reason` if it aborts first. */
  acquire(signal: AbortSignal): Promise<QueryWorker> {
    if (this.#closing !== undefined) return Promise.reject(new PoolClosedError("the worker pool is closed"));
    if (signal.aborted) return Promise.reject(signal.reason);
    const idle = this.#idle.pop();
    if (idle !== undefined) {
      clearTimeout(idle.idleTimer);
      idle.setRef(true);
      return Promise.resolve(idle);
    }
    if (this.size < this.#options.size) {
      try {
        return Promise.resolve(this.#spawn());
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          removeFrom(this.#waiters, waiter);
          reject(signal.reason);
        },
      };
      signal.addEventListener("abort", waiter.onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** Returns a worker that answered; it goes to the next waiter or rests idle. */
  release(worker: QueryWorker): void {
    if (worker.gone) return this.#refill();
    if (this.#closing !== undefined) return worker.retire();
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      waiter.signal.removeEventListener("abort", waiter.onAbort);
      waiter.resolve(worker);
      return;
    }
    worker.setRef(false);
    if (Number.isFinite(this.#options.idleTimeoutMs)) {
      worker.idleTimer = setTimeout(() => {
        removeFrom(this.#idle, worker);
        worker.retire();
      }, this.#options.idleTimeoutMs);
      worker.idleTimer.unref();
    }
    this.#idle.push(worker);
  }

  /** Kills a worker whose query must stop now; a waiting caller gets a fresh worker in its place. */
  discard(worker: QueryWorker): void {
    if (!worker.gone) this.#dying.add(worker);
    worker.kill();
    this.#refill();
  }

  /** Stops handing out workers, rejects waiters, retires idle workers and kills busy ones; idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const w of this.#waiters.splice(0)) {
        w.signal.removeEventListener("abort", w.onAbort);
        w.reject(new PoolClosedError("the worker pool closed"));
      }
      const idle = new Set(this.#idle.splice(0));
      for (const w of this.#all) {
        clearTimeout(w.idleTimer);
        if (idle.has(w)) w.retire();
        else w.kill();
      }
      await Promise.all([...this.#all].map((w) => w.exited));
    })();
    return this.#closing;
  }

  #spawn(): QueryWorker {
    if (!inSingleExecutable() && !existsSync(this.#options.workerPath)) {
      throw new WorkerExitedError(`query worker not found at ${this.#options.workerPath}; build the agent first (pnpm build)`);
    }
    const worker = new QueryWorker(this.#options.workerPath, (w) => {
      this.#all.delete(w);
      this.#dying.delete(w);
      removeFrom(this.#idle, w);
      this.#refill();
    });
    this.#all.add(worker);
    return worker;
  }

  /** After a worker left the pool, starts a replacement for the first waiter, if any. */
  #refill(): void {
    if (this.#closing !== undefined || this.#waiters.length === 0 || this.size >= this.#options.size) return;
    const waiter = this.#waiters.shift() as Waiter;
    waiter.signal.removeEventListener("abort", waiter.onAbort);
    try {
      waiter.resolve(this.#spawn());
    } catch (err) {
      waiter.reject(err);
    }
  }
}

function removeFrom<T>(list: T[], item: T): void {
  const at = list.indexOf(item);
  if (at >= 0) list.splice(at, 1);
}
