import { fork, spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { inSingleExecutable, WORKER_ROLE, WORKER_ROLE_ENV } from "../single-executable.js";
import { WORKER_V8_FLAGS } from "../v8-flags.js";
import type { WorkerReply, WorkerRequest } from "./worker-messages.js";

/** A worker process died (crashed, or was killed by the pool) while a request was pending. */
export class WorkerExitedError extends Error {}

/** The pool is closing or closed; no worker will be handed out again. */
export class PoolClosedError extends Error {}

/** A worker went past its memory bound (the pool's RSS watchdog killed it, or V8 ran out of heap). */
export class WorkerMemoryError extends WorkerExitedError {}

/** How often the watchdog reads a busy worker's resident set size. */
const WATCHDOG_INTERVAL_MS = 25;

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
  /** Most resident memory the process may hold while it runs a query (0: unbounded). */
  readonly #memoryLimitBytes: number;
  #watchdog: NodeJS.Timeout | undefined;
  #overLimitRss: number | undefined;

  constructor(path: string, onExit: (w: QueryWorker) => void, memoryLimitBytes = 0, v8Flags: readonly string[] = WORKER_V8_FLAGS) {
    this.#memoryLimitBytes = memoryLimitBytes;
    this.#child = launchWorker(path, memoryLimitBytes > 0 ? v8HeapMiB(memoryLimitBytes) : undefined, v8Flags);
    this.#child.stderr?.setEncoding("utf8");
    this.#child.stderr?.on("data", (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-STDERR_TAIL_CHARS);
    });
    this.#child.on("message", (reply: WorkerReply) => {
      const pending = this.#pending;
      if (pending === undefined || reply.id !== pending.id) return;
      this.#pending = undefined;
      this.#stopWatchdog();
      pending.resolve(reply);
    });
    this.exited = new Promise((resolve) => {
      const finish = (why: string): void => {
        if (this.#gone) return;
        this.#gone = true;
        clearTimeout(this.idleTimer);
        this.#stopWatchdog();
        this.#pending?.reject(this.#exitError(why));
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
      this.#startWatchdog();
      this.#child.send(req, (err) => {
        if (err === null || this.#pending?.id !== req.id) return;
        this.#pending = undefined;
        this.#stopWatchdog();
        reject(new WorkerExitedError(`could not send to the query worker: ${err.message}`));
      });
    });
  }

  /**
   * While a query runs, reads the process's resident set size every few milliseconds and kills it past
   * the limit. This is the bound that always holds: SQLite's own heap limit is not enforced by
   * better-sqlite3's build (it compiles with SQLITE_DEFAULT_MEMSTATUS=0), and V8's heap flag does not
   * see SQLite's allocations. The worker cannot report on itself while SQLite's C code runs, so the
   * parent watches from outside, through /proc (Linux; elsewhere only the V8 bound applies).
   */
  #startWatchdog(): void {
    if (this.#memoryLimitBytes <= 0 || this.pid === undefined || this.#watchdog !== undefined) return;
    const pid = this.pid;
    this.#watchdog = setInterval(() => {
      const rss = residentBytes(pid);
      if (rss === undefined) {
        this.#stopWatchdog(); // no /proc here: nothing to watch with
      } else if (rss > this.#memoryLimitBytes) {
        this.#overLimitRss = rss;
        this.#stopWatchdog();
        this.kill();
      }
    }, WATCHDOG_INTERVAL_MS);
    this.#watchdog.unref();
  }

  #stopWatchdog(): void {
    clearInterval(this.#watchdog);
    this.#watchdog = undefined;
  }

  /** Why a pending request failed when the process went away: past its memory bound, or otherwise. */
  #exitError(why: string): WorkerExitedError {
    const tail = this.#stderr.trim();
    const limitMiB = Math.round(this.#memoryLimitBytes / 1024 / 1024);
    if (this.#overLimitRss !== undefined) {
      const usedMiB = Math.round(this.#overLimitRss / 1024 / 1024);
      return new WorkerMemoryError(`the query used more than the worker memory limit of ${limitMiB} MiB (${usedMiB} MiB); its worker was killed`);
    }
    // V8 aborts the process with this line on stderr when the --max-old-space-size bound is hit.
    if (/heap out of memory|Allocation failed/i.test(tail)) {
      return new WorkerMemoryError(`the query ran out of the worker's JavaScript heap (memory limit ${limitMiB} MiB); its worker was killed`);
    }
    return new WorkerExitedError(`query worker ${why}${tail === "" ? "" : `: ${tail}`}`);
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
 * an environment switch that `sea-main` reads. Either way the child talks JSON over an IPC channel;
 * `heapMiB` bounds its V8 heap (the pool's RSS watchdog bounds the rest) and `v8Flags` are its other V8
 * settings ({@link WORKER_V8_FLAGS} unless a caller, such as the host-sql bench, compares others).
 */
export function launchWorker(path: string, heapMiB?: number, v8Flags: readonly string[] = WORKER_V8_FLAGS): ChildProcess {
  const stdio = ["ignore", "ignore", "pipe", "ipc"] as const;
  const flags = [...v8Flags, ...(heapMiB === undefined ? [] : [`--max-old-space-size=${heapMiB}`])];
  if (inSingleExecutable()) {
    // An executable takes no Node flags on its command line: they travel in NODE_OPTIONS (all of these
    // are among the flags NODE_OPTIONS accepts). The executable's code cache was made under the daemon's
    // flags, so V8 rejects it here and Node would warn so on every start, filling the stderr tail kept to
    // explain a crash: the worker runs its own bundle, compiled without that cache, and warns of nothing.
    const env = { ...process.env, [WORKER_ROLE_ENV]: WORKER_ROLE, NODE_OPTIONS: [...flags, "--no-warnings"].join(" ") };
    return spawn(process.execPath, [], { stdio: [...stdio], serialization: "json", env });
  }
  // execArgv holds only these flags, so the worker never inherits the parent's --inspect or loader
  // flags; stdout is unused.
  return fork(path, [], { execArgv: flags, stdio: [...stdio], serialization: "json" });
}

/** V8's old-space bound for a worker: half its memory limit (SQLite and Node's own need the rest), at least 16 MiB. */
function v8HeapMiB(memoryLimitBytes: number): number {
  return Math.max(16, Math.floor(memoryLimitBytes / 2 / 1024 / 1024));
}

/** A process's resident set size from /proc/<pid>/status, or undefined where there is no /proc (or it is gone). */
export function residentBytes(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, "latin1"));
    return match === null ? undefined : Number(match[1]) * 1024;
  } catch {
    return undefined;
  }
}
