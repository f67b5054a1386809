/**
 * The two budgets that keep one agent from costing the hub unbounded CPU: a rate for the frames it sends
 * unasked, and a count of protocol violations within a sliding window (rule 10, docs/architecture.md).
 */

/** At most `limit` events per one-second window. */
export class RateBudget {
  readonly #limit: number;
  #windowStart = 0;
  #inWindow = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  get limit(): number {
    return this.#limit;
  }

  /** Counts one event; false when it is over the second's budget. */
  allow(now = Date.now()): boolean {
    if (now - this.#windowStart >= 1000) {
      this.#windowStart = now;
      this.#inWindow = 0;
    }
    return ++this.#inWindow <= this.#limit;
  }
}

/** More than `budget` events within `windowMs` is too many. */
export class SlidingBudget {
  readonly #times: number[] = [];
  readonly #budget: number;
  readonly #windowMs: number;

  constructor(budget: number, windowMs: number) {
    this.#budget = budget;
    this.#windowMs = windowMs;
  }

  /** Records one event; true when the window now holds more than the budget. */
  exceeded(now = Date.now()): boolean {
    this.#times.push(now);
    while (this.#times.length > 0 && this.#times[0]! <= now - this.#windowMs) this.#times.shift();
    return this.#times.length > this.#budget;
  }
}
