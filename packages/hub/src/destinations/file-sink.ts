import { open, rename, rm, stat } from "node:fs/promises";
import { dirname } from "node:path";
import type { HubEventRecord } from "../store/store.js";
import type { Sink } from "./sink.js";
import { deliveredBody } from "./webhook-sink.js";

/**
 * Appends one NDJSON line per event to a file, rotating by size: when the next line would take the file
 * past `maxBytes`, `path` becomes `path.1` (`path.1` becomes `path.2`, …; the oldest past `keep` goes)
 * and a fresh `path` is started. A file holds at least one line, however long. The file is fsync'd
 * before `deliver` resolves, so the cursor never passes a line the disk does not have.
 */
export class FileSink implements Sink {
  readonly batchSize = 100;
  readonly #path: string;
  readonly #maxBytes: number;
  readonly #keep: number;

  constructor(opts: { path: string; maxBytes: number; keep: number }) {
    this.#path = opts.path;
    this.#maxBytes = opts.maxBytes;
    this.#keep = opts.keep;
  }

  async deliver(events: HubEventRecord[]): Promise<void> {
    let file = await open(this.#path, "a", 0o600);
    try {
      let size = (await file.stat()).size;
      for (const event of events) {
        const line = Buffer.concat([deliveredBody(event), Buffer.from("\n")]);
        if (size > 0 && size + line.length > this.#maxBytes) {
          await file.sync();
          await file.close();
          await this.#rotate();
          file = await open(this.#path, "a", 0o600);
          size = 0;
        }
        await file.write(line);
        size += line.length;
      }
      await file.sync();
    } finally {
      await file.close();
    }
  }

  async #rotate(): Promise<void> {
    await rm(`${this.#path}.${this.#keep}`, { force: true });
    for (let n = this.#keep - 1; n >= 1; n--) {
      const from = `${this.#path}.${n}`;
      if (await exists(from)) await rename(from, `${this.#path}.${n + 1}`);
    }
    if (this.#keep >= 1) await rename(this.#path, `${this.#path}.1`);
    else await rm(this.#path, { force: true });
    // The renames reach the disk before lines go to the new file.
    const dir = await open(dirname(this.#path), "r");
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
