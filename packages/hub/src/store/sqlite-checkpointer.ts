import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";

const driver = createRequire(import.meta.url).resolve("better-sqlite3");

/** How often the background thread folds the write-ahead log back into the database file. */
export const CHECKPOINT_EVERY_MS = 1_000;
/** The longest a closing store waits for the last checkpoint. */
export const CLOSE_WAIT_MS = 250;

/**
 * Checkpoints a WAL-mode SQLite file from a worker thread with its own connection, so the fsyncs of a
 * checkpoint never stall the event loop (SQLite's automatic checkpoint runs inside whichever commit
 * crosses the threshold: on the main thread, in the middle of serving requests). PASSIVE checkpoints
 * never block writers; the main connection turns its own automatic checkpoint off.
 */
export class SqliteCheckpointer {
  readonly #worker: Worker;

  constructor(path: string) {
    this.#worker = new Worker(
      `
      const { parentPort, workerData } = require("node:worker_threads");
      const Database = require(workerData.driver);
      const db = new Database(workerData.path);
      db.pragma("busy_timeout = 5000");
      const timer = setInterval(() => {
        try { db.pragma("wal_checkpoint(PASSIVE)"); } catch {}
      }, workerData.everyMs);
      parentPort.once("message", () => {
        clearInterval(timer);
        try { db.pragma("wal_checkpoint(TRUNCATE)"); } catch {}
        db.close();
        parentPort.close();
      });
      `,
      { eval: true, workerData: { path, everyMs: CHECKPOINT_EVERY_MS, driver } },
    );
    // Never the reason the process stays up; close() ends it explicitly.
    this.#worker.unref();
  }

  /**
   * Runs a last checkpoint and stops the thread; waits for it at most {@link CLOSE_WAIT_MS}. A WAL grown
   * large (a busy hub: schedules write thousands of runs a second) can take seconds to copy back, more than
   * a shutdown has: the process may then exit during it, which SQLite survives as it survives a crash (the
   * WAL stays valid and the next start's checkpoints carry on).
   */
  close(): Promise<void> {
    return new Promise((resolve) => {
      const late = setTimeout(() => {
        this.#worker.unref();
        resolve();
      }, CLOSE_WAIT_MS);
      this.#worker.once("exit", () => {
        clearTimeout(late);
        resolve();
      });
      // Held by the thread until it has finished, or a process with nothing else to do would exit first.
      this.#worker.ref();
      this.#worker.postMessage("close");
    });
  }
}
