/**
 * Exponential backoff with full jitter (rule 12, docs/architecture.md): the wait before reconnect attempt `attempt`
 * (0-based) is uniform in [0, min(capMs, baseMs * 2^attempt)). `random` returns a number in [0, 1),
 * like `Math.random`; tests inject their own.
 */
export function backoffDelay(attempt: number, baseMs: number, capMs: number, random: () => number): number {
  // 2 ** attempt overflows to Infinity for large attempts; min() then yields the cap, which is what we want.
  const ceiling = Math.min(capMs, baseMs * 2 ** attempt);
  return Math.floor(random() * ceiling);
}

/**
 * The reconnect schedule of one connection: each `next()` yields the wait before the next attempt and
 * counts the attempt; `reset()` starts over after a stable connection.
 */
export class Backoff {
  #attempt = 0;

  constructor(
    readonly baseMs: number,
    readonly capMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** Attempts counted since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** The wait in milliseconds before the next attempt, at most `capMs` (this schedule's cap by default); advances the attempt counter. */
  next(capMs = this.capMs): number {
    const delay = backoffDelay(this.#attempt, this.baseMs, Math.min(capMs, this.capMs), this.random);
    this.#attempt += 1;
    return delay;
  }

  /** The wait before the next attempt at attempt 0's ceiling, without counting an attempt. */
  first(): number {
    return backoffDelay(0, this.baseMs, this.capMs, this.random);
  }

  /** Starts the schedule over from attempt 0. */
  reset(): void {
    this.#attempt = 0;
  }
}
