/**
 * Fixed-window attempt counter per key (e.g. a client address). Windows of keys not seen again are
 * dropped as new windows start, so memory is bounded by the keys active in one window.
 */
export class RateLimiter {
  #windowStart = 0;
  #counts = new Map<string, number>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Without counting: 0 while `key` has attempts left in this window, else the seconds until it resets. */
  wait(key: string): number {
    const now = this.now();
    if (now - this.#windowStart >= this.windowMs || (this.#counts.get(key) ?? 0) < this.limit) return 0;
    return Math.max(1, Math.ceil((this.#windowStart + this.windowMs - now) / 1000));
  }

  /** Counts an attempt; returns 0 when allowed, else the seconds until the window resets. */
  take(key: string): number {
    const now = this.now();
    if (now - this.#windowStart >= this.windowMs) {
      this.#windowStart = now;
      this.#counts = new Map();
    }
    const count = (this.#counts.get(key) ?? 0) + 1;
    this.#counts.set(key, count);
    if (count <= this.limit) return 0;
    return Math.max(1, Math.ceil((this.#windowStart + this.windowMs - now) / 1000));
  }
}
