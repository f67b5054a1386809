import type { ServerResponse } from "node:http";
import type { CancelSignal } from "../agents/pending-commands.js";

/**
 * Aborted when a REST caller goes away before its answer was written: the command it asked for is then
 * cancelled on the agent. It listens to the response's `close` only while a command listens to it.
 *
 * Not an AbortSignal on the hot path: making one and listening to it costs ~9 µs in Node 20 (an
 * EventTarget each), a tenth of the floor's whole round trip (issue 15); this is a listener on an
 * emitter the request has anyway.
 */
export class CallerSignal implements CancelSignal {
  readonly #res: ServerResponse;
  readonly #listeners = new Map<() => void, () => void>();

  constructor(res: ServerResponse) {
    this.#res = res;
  }

  /** True once the connection closed with the answer unwritten. */
  get aborted(): boolean {
    return this.#res.destroyed && !this.#res.writableFinished;
  }

  /** No reason: a caller that went away says nothing (the command fails as `cancelled`). */
  get reason(): undefined {
    return undefined;
  }

  /** Listeners run at most once whatever `options` say: a response closes once. */
  addEventListener(_type: "abort", listener: () => void, _options?: { once: true }): void {
    if (this.#listeners.has(listener)) return;
    const onClose = (): void => {
      this.#listeners.delete(listener);
      if (!this.#res.writableFinished) listener();
    };
    this.#listeners.set(listener, onClose);
    this.#res.once("close", onClose);
  }

  removeEventListener(_type: "abort", listener: () => void): void {
    const onClose = this.#listeners.get(listener);
    if (onClose === undefined) return;
    this.#listeners.delete(listener);
    this.#res.off("close", onClose);
  }
}
