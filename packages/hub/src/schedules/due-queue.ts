/** An entry of a {@link DueQueue}: anything with a due time. */
export interface Due {
  due: number;
}

/**
 * A binary min-heap by due time: the scheduler's timer wheel. Taking what is due costs O(log n) per
 * entry taken, whatever the number of entries waiting, so a tick never scans every (schedule, agent).
 * Entries are dropped lazily: the owner marks one stale and skips it when it comes out.
 */
export class DueQueue<T extends Due> {
  readonly #heap: T[] = [];

  get size(): number {
    return this.#heap.length;
  }

  /** The earliest due time, or undefined when empty. */
  peek(): number | undefined {
    return this.#heap[0]?.due;
  }

  push(item: T): void {
    const heap = this.#heap;
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.due <= item.due) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = item;
  }

  /** Removes and returns the earliest entry if it is due at `now`. */
  popDue(now: number): T | undefined {
    const heap = this.#heap;
    const top = heap[0];
    if (top === undefined || top.due > now) return undefined;
    const last = heap.pop()!;
    if (heap.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let smallest = i;
        const at = (k: number) => (k === i ? last : heap[k]!);
        if (l < heap.length && heap[l]!.due < at(smallest).due) smallest = l;
        if (r < heap.length && heap[r]!.due < at(smallest).due) smallest = r;
        if (smallest === i) break;
        heap[i] = heap[smallest]!;
        i = smallest;
      }
      heap[i] = last;
    }
    return top;
  }

  clear(): void {
    this.#heap.length = 0;
  }
}
