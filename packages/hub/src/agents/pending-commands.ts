import type { CommandFields } from "@uplink/protocol";
import { z } from "zod";
import type { Logger } from "../logger.js";
import type { HubError } from "../errors.js";

/** What the hub sends for one command: the frame's fields (`buildCommand`), and how the caller follows it. */
export interface CommandRequest extends CommandFields {
  /** A child logger carrying the correlationId. */
  log: Logger;
  /** Aborted when the caller gives up (a REST caller disconnected): the command is cancelled on the agent. */
  signal?: CancelSignal | undefined;
}

/**
 * The part of an AbortSignal the hub reads to cancel a command: an AbortSignal is one (fan-outs, a peer
 * replica's command), and so is the cheaper signal of a REST caller (api/caller-signal.ts).
 */
export interface CancelSignal {
  readonly aborted: boolean;
  /** Passed on when it is a CommandCancelledError (a cancelled fan-out says who cancelled it). */
  readonly reason: unknown;
  addEventListener(type: "abort", listener: () => void, options?: { once: true }): void;
  removeEventListener(type: "abort", listener: () => void): void;
}

/** An agent's answer, routed to the caller that asked (also what an owner replica relays to the requester). */
export const CommandReply = z.object({
  correlationId: z.string(),
  ok: z.boolean(),
  result: z.unknown().optional(),
  error: z.string().optional(),
  code: z.string().optional(),
  /** As the agent measured it. */
  durationMs: z.number().optional(),
});
export type CommandReply = z.infer<typeof CommandReply>;

/** One command waiting for its reply. */
export interface PendingCommand {
  request: CommandRequest;
  promise: Promise<CommandReply>;
  sentAt: number;
  /** Whether the frame was written (legacy sessions queue commands before sending them). */
  sent: boolean;
  /** Where the command went when not to a socket of this process: the replica holding the agent. */
  owner?: string;
  timer: NodeJS.Timeout;
  resolve(reply: CommandReply): void;
  reject(error: HubError): void;
}

/**
 * Commands pending on one connection (or, in a cluster, published to other replicas), keyed by
 * correlationId, each with its own deadline. Separate from the outgoing frames: an entry leaves the map
 * exactly once (reply, deadline, or close).
 */
export class PendingCommands {
  readonly #byId = new Map<string, PendingCommand>();

  get size(): number {
    return this.#byId.size;
  }

  /** The entries still pending. */
  values(): IterableIterator<PendingCommand> {
    return this.#byId.values();
  }

  /**
   * Registers a command and returns its entry; `entry.promise` settles with the reply or an error.
   * `onDeadline` runs once if nothing removed the entry by `deadlineMs` (default: the command's timeout).
   */
  add(request: CommandRequest, onDeadline: (entry: PendingCommand) => void, deadlineMs = request.timeoutMs): PendingCommand {
    let resolve!: PendingCommand["resolve"];
    let reject!: PendingCommand["reject"];
    const promise = new Promise<CommandReply>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Fields listed, not spread: a spread followed by more fields is a slow object copy in V8 (µs, issue 15).
    const entry: PendingCommand = {
      request,
      promise,
      sentAt: performance.now(),
      sent: false,
      resolve,
      reject,
      timer: setTimeout(() => {
        if (this.#byId.get(request.correlationId) === entry) {
          this.#byId.delete(request.correlationId);
          onDeadline(entry);
        }
      }, deadlineMs),
    };
    this.#byId.set(request.correlationId, entry);
    return entry;
  }

  /** Removes and returns the entry, clearing its deadline; undefined when not pending. */
  take(correlationId: string): PendingCommand | undefined {
    const entry = this.#byId.get(correlationId);
    if (entry === undefined) return undefined;
    this.#byId.delete(correlationId);
    clearTimeout(entry.timer);
    return entry;
  }

  /** Fails every pending command with one error, clears every deadline, and returns what it failed. */
  rejectAll(error: HubError): PendingCommand[] {
    // The common case at shutdown, once per socket: nothing pending, nothing to allocate.
    if (this.#byId.size === 0) return [];
    const entries = [...this.#byId.values()];
    this.#byId.clear();
    for (const entry of entries) {
      clearTimeout(entry.timer);
      entry.reject(error);
    }
    return entries;
  }
}
