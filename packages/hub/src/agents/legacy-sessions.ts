import type { PendingCommand } from "./pending-commands.js";

/**
 * A legacy (protocol-1) session: the agent does not echo correlationIds, so its replies are matched to
 * the one command of that session in flight. `ghost` holds the slot after a timeout until the late reply
 * arrives (or one more timeout passes), so the late reply can never be taken for the next command's.
 */
interface LegacySession {
  active: PendingCommand | "ghost" | null;
  queue: PendingCommand[];
  ghostTimer?: NodeJS.Timeout;
}

/**
 * The protocol-1 sessions of one connection (rule 4, docs/architecture.md): at most one command in flight
 * per session, the rest queued in order, so a reply without correlationId can only answer that one.
 *
 *   enqueue ─▶ queue ─(session free)─▶ write ─▶ active ─(reply)──────────────▶ answered, next written
 *                                                  └─(deadline / caller gone)─▶ ghost ─(late reply or
 *                                                                               one more timeout)─▶ next
 */
export class LegacySessions {
  readonly #sessions = new Map<string, LegacySession>();
  readonly #write: (entry: PendingCommand) => void;

  /** `write` sends a command on the socket; it is called when the command's session is free. */
  constructor(write: (entry: PendingCommand) => void) {
    this.#write = write;
  }

  /** Queues `entry` behind the command its session has in flight, writing it at once when there is none. */
  enqueue(entry: PendingCommand): void {
    const sessionId = entry.request.sessionId;
    let session = this.#sessions.get(sessionId);
    if (session === undefined) {
      session = { active: null, queue: [] };
      this.#sessions.set(sessionId, session);
    }
    session.queue.push(entry);
    this.#pump(sessionId, session);
  }

  /**
   * Routes a reply without correlationId of session `sessionId`: to `onActive` with the command in flight,
   * or to `onLate` when the slot is held for a command that already timed out; then the session's next
   * command is written. False when the session has nothing in flight (the reply matches nothing).
   */
  answer(sessionId: string, onActive: (entry: PendingCommand) => void, onLate: () => void): boolean {
    const session = this.#sessions.get(sessionId);
    const active = session?.active;
    if (session === undefined || active === null || active === undefined) return false;
    session.active = null;
    if (active === "ghost") {
      clearTimeout(session.ghostTimer);
      onLate();
    } else {
      onActive(active);
    }
    this.#pump(sessionId, session);
    return true;
  }

  /**
   * `entry` ended without its reply (deadline, caller gone). Not yet written: it leaves the queue. Written:
   * its slot stays held as a ghost until the late reply, or for one more of its timeouts.
   */
  abandon(entry: PendingCommand): void {
    const sessionId = entry.request.sessionId;
    const session = this.#sessions.get(sessionId);
    if (session === undefined) return;
    if (!entry.sent) {
      session.queue = session.queue.filter((e) => e !== entry);
      return this.#pump(sessionId, session);
    }
    session.active = "ghost";
    session.ghostTimer = setTimeout(() => {
      session.active = null;
      this.#pump(sessionId, session);
    }, entry.request.timeoutMs);
  }

  /** Forgets every session and clears their timers (the connection closed; its commands fail elsewhere). */
  clear(): void {
    for (const session of this.#sessions.values()) clearTimeout(session.ghostTimer);
    this.#sessions.clear();
  }

  #pump(sessionId: string, session: LegacySession): void {
    if (session.active !== null) return;
    const next = session.queue.shift();
    if (next === undefined) {
      this.#sessions.delete(sessionId);
      return;
    }
    session.active = next;
    this.#write(next);
  }
}
