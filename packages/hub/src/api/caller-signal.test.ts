import { EventEmitter } from "node:events";
import type { ServerResponse } from "node:http";
import { describe, expect, it, vi } from "vitest";
import { CallerSignal } from "./caller-signal.js";

/** The part of a ServerResponse the signal reads: its `close` event, `destroyed` and `writableFinished`. */
function response(): EventEmitter & { destroyed: boolean; writableFinished: boolean } {
  return Object.assign(new EventEmitter(), { destroyed: false, writableFinished: false });
}

describe("CallerSignal", () => {
  it("aborts when the connection closes before the answer was written", () => {
    const res = response();
    const signal = new CallerSignal(res as unknown as ServerResponse);
    const listener = vi.fn();
    signal.addEventListener("abort", listener, { once: true });
    expect(signal.aborted).toBe(false);
    res.destroyed = true;
    res.emit("close");
    expect(listener).toHaveBeenCalledTimes(1);
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBeUndefined();
    expect(res.listenerCount("close")).toBe(0);
  });

  it("does not abort once the answer was written, nor after its listener was removed", () => {
    const answered = response();
    const after = new CallerSignal(answered as unknown as ServerResponse);
    const listener = vi.fn();
    after.addEventListener("abort", listener);
    answered.writableFinished = true;
    answered.destroyed = true;
    answered.emit("close");
    expect(after.aborted).toBe(false);

    const left = response();
    const removed = new CallerSignal(left as unknown as ServerResponse);
    removed.addEventListener("abort", listener);
    removed.removeEventListener("abort", listener);
    expect(left.listenerCount("close")).toBe(0);
    left.emit("close");
    expect(listener).not.toHaveBeenCalled();
  });
});
