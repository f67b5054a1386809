/** An agent silent this long after its upgrade no longer counts as a handshake: silent sockets cannot stop admission. */
export const HANDSHAKE_MAX_MS = 10_000;
/** The longest `Retry-After` a paced agent is told: the cap of the agent's own backoff. */
export const MAX_PACED_RETRY_AFTER_S = 60;
/**
 * The admission rate assumed before one is measured. High on purpose: an agent told too short a wait comes
 * back and is given a better one; an agent told too long a wait sits idle while the hub could admit it.
 */
const INITIAL_RATE_PER_S = 2_000;
/** The lowest rate the pacer assumes, so that a quiet second does not push every return a minute out. */
const MIN_RATE_PER_S = 50;
/**
 * How often the measured rate is updated (one window weighs half of it). Only a window in which an agent
 * was refused measures the hub's capacity; otherwise it measured how fast agents happened to arrive.
 */
const RATE_WINDOW_MS = 1_000;

/**
 * Paces agent handshakes when a whole fleet dials at once (a hub restart). At most `maxInProgress`
 * handshakes run at a time — an admitted agent from its upgrade until its `hello`, at most
 * {@link HANDSHAKE_MAX_MS}; the agents refused meanwhile are each given a turn, in order, at the rate the
 * hub has been completing handshakes, and told to come back then (`Retry-After`):
 *
 *   refused at t      turn = max(t, last turn given) + 1 / rate      Retry-After = ceil(turn - t) s, 1–60
 *
 * So the fleet returns spread over the time the hub needs to admit it, instead of all at once again; an
 * agent back too early (the rate fell) is refused once more and given a later turn.
 */
export class HandshakePacer {
  readonly #maxInProgress: number;
  readonly #now: () => number;
  #inProgress = 0;
  /** Handshakes completed per second while agents were refused, smoothed over windows of RATE_WINDOW_MS. */
  #rate = INITIAL_RATE_PER_S;
  #windowStart: number;
  #windowCompleted = 0;
  #windowRefused = false;
  /** The latest turn handed out (epoch ms). */
  #lastTurn = 0;

  /** `maxInProgress` 0 paces nothing. */
  constructor(maxInProgress: number, now: () => number = Date.now) {
    this.#maxInProgress = maxInProgress;
    this.#now = now;
    this.#windowStart = now();
  }

  /** Handshakes running now. */
  get inProgress(): number {
    return this.#inProgress;
  }

  /** Starts a handshake when there is room and returns true; false: refuse it, with {@link retryAfterS}. */
  tryStart(): boolean {
    if (this.#maxInProgress > 0 && this.#inProgress >= this.#maxInProgress) {
      this.#windowRefused = true;
      return false;
    }
    this.#inProgress++;
    return true;
  }

  /** A started handshake ended: `completed` when the agent said hello (it counts towards the rate). */
  end(completed: boolean): void {
    this.#inProgress--;
    if (!completed) return;
    this.#windowCompleted++;
    const now = this.#now();
    const elapsed = now - this.#windowStart;
    if (elapsed < RATE_WINDOW_MS) return;
    if (this.#windowRefused) {
      const measured = (this.#windowCompleted * 1_000) / elapsed;
      this.#rate = Math.max(MIN_RATE_PER_S, (this.#rate + measured) / 2);
    }
    this.#windowStart = now;
    this.#windowCompleted = 0;
    this.#windowRefused = false;
  }

  /** The next turn, as the whole seconds to wait for it (1 to {@link MAX_PACED_RETRY_AFTER_S}). */
  retryAfterS(): number {
    const now = this.#now();
    // Turns are never handed out past the longest wait an agent is told.
    this.#lastTurn = Math.min(Math.max(now, this.#lastTurn) + 1_000 / this.#rate, now + MAX_PACED_RETRY_AFTER_S * 1_000);
    return Math.max(1, Math.ceil((this.#lastTurn - now) / 1_000));
  }
}
