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

process.on("message", (message: WorkerRequest) => {
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
});

process.on("disconnect", () => engine.close());
