/**
 * Entry point of a query worker: a child process the host collector forks (`child_process.fork`) from
 * the compiled `dist/sql/query-worker.js`. It holds one engine and answers one query at a time over
 * the IPC channel. It never exits on its own while the channel is open; when the collector disconnects,
 * nothing keeps its event loop alive and it exits; when a deadline passes, the collector kills it.
 */
import { toWireError } from "../errors.js";
import { createEngine } from "./engine.js";
import { HOST_TABLES } from "./tables/index.js";
import type { WorkerReply, WorkerRequest } from "./worker-messages.js";

const send = process.send?.bind(process);
if (send === undefined) {
  throw new Error("query-worker.js is started by the host collector over an IPC channel, not run directly");
}

const engine = createEngine(HOST_TABLES);

/**
 * A worker idle this long after its last answer collects its garbage once, so a live worker waiting for
 * the next query holds its engine and little else. Never while a query runs, and never on the answer's
 * path: the next query cancels the pending collection.
 */
const IDLE_GC_MS = 1_000;
/** `gc()`, when the pool started this worker with `--expose-gc` (WORKER_V8_FLAGS in v8-flags.ts); absent otherwise. */
const collectGarbage = (globalThis as { gc?: () => void }).gc;
let idleGc: NodeJS.Timeout | undefined;

process.on("message", (message: WorkerRequest) => {
  clearTimeout(idleGc);
  let reply: WorkerReply;
  try {
    const result = engine.run(message.sql, {
      maxRows: message.maxRows,
      maxBytes: message.maxBytes,
      agent: message.agent,
      heapLimitBytes: message.heapLimitBytes,
      hostRoot: message.hostRoot,
      secretTablesEnabled: message.secretTablesEnabled,
    });
    reply = { id: message.id, ok: true, result };
  } catch (err) {
    const { code, error } = toWireError(err);
    reply = { id: message.id, ok: false, code, message: error };
  }
  send(reply);
  if (collectGarbage !== undefined) {
    // Unref'd: a pending collection never keeps a disconnected worker from exiting.
    idleGc = setTimeout(collectGarbage, IDLE_GC_MS).unref();
  }
});

process.on("disconnect", () => engine.close());
