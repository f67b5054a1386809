/**
 * The most recent ids seen, bounded: an insertion-ordered Set whose oldest entry goes when it is full.
 * Memory is `capacity` short strings whatever the traffic.
 */
export class RecentIds {
  readonly #ids = new Set<string>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
  }

  get size(): number {
    return this.#ids.size;
  }

  /** Records `id`; false when it was already recorded (a duplicate). */
  add(id: string): boolean {
    if (this.#ids.has(id)) return false;
    if (this.#ids.size >= this.capacity) this.#ids.delete(this.#ids.values().next().value as string);
    this.#ids.add(id);
    return true;
  }
}
