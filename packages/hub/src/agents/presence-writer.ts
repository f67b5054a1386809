import type { HealthResult } from "@uplink/protocol";
import type { Logger } from "../logger.js";
import type { AgentPatch, AgentRecord, PresenceRow, Store } from "../store/store.js";

/** Agents per statement of one flush: bounds the rows (and locks) one statement holds. */
export const PRESENCE_BATCH_ROWS = 5000;

/**
 * The presence of the agents this replica holds, between writes. A health poll that changes nothing but
 * `lastSeenAt` and the last health result lands here, in memory; every `flushIntervalMs` the changed
 * agents are written in one multi-row statement (`Store.recordPresence`), and once more on stop. What
 * is an event (a status transition, a connect, a disconnect) is written at once by the registry, which
 * folds in what was waiting here (`settle`).
 *
 * Reads on this replica see the fresh values (`overlay`); another replica reads the store, at most one
 * flush interval old.
 */
export class PresenceWriter {
  /** The freshest presence of each agent held here; its rows are never mutated (identity marks a version). */
  readonly #latest = new Map<string, PresenceRow>();
  /** Agents whose latest presence is not written yet. */
  readonly #dirty = new Set<string>();
  readonly #store: Store;
  readonly #replicaId: string;
  readonly #flushIntervalMs: number;
  readonly #log: Logger;
  #timer: NodeJS.Timeout | undefined;
  /** The flush running, if any: flushes run one after the other. */
  #flushing: Promise<void> = Promise.resolve();

  constructor(deps: { store: Store; replicaId: string; flushIntervalMs: number; log: Logger }) {
    this.#store = deps.store;
    this.#replicaId = deps.replicaId;
    this.#flushIntervalMs = deps.flushIntervalMs;
    this.#log = deps.log;
  }

  /** Agents whose presence waits for the next flush. */
  get pending(): number {
    return this.#dirty.size;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.flush(), this.#flushIntervalMs);
    this.#timer.unref();
  }

  /** Stops the timer and writes what is pending. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }

  /** The agent answered a poll at `lastSeenAt`, with `health` (null: no health result; the last one stays). */
  seen(agentId: string, lastSeenAt: number, health: HealthResult | null): void {
    const previous = this.#latest.get(agentId);
    this.#latest.set(agentId, { id: agentId, lastSeenAt, lastHealth: health ?? previous?.lastHealth ?? null });
    this.#dirty.add(agentId);
  }

  /**
   * The agent's unwritten presence as a patch, for a write made now (status transition, disconnect); it
   * no longer waits for the flush. Empty when nothing waits.
   */
  settle(agentId: string): Pick<AgentPatch, "lastSeenAt" | "lastHealth"> {
    const row = this.#latest.get(agentId);
    if (row === undefined || !this.#dirty.delete(agentId)) return {};
    return row.lastHealth === null ? { lastSeenAt: row.lastSeenAt } : { lastSeenAt: row.lastSeenAt, lastHealth: row.lastHealth };
  }

  /** This replica no longer holds the agent: nothing of it is written from here any more. */
  forget(agentId: string): void {
    this.#latest.delete(agentId);
    this.#dirty.delete(agentId);
  }

  /** The records with the presence known here, fresher than the store's for the agents held here. */
  overlay(agents: AgentRecord[]): AgentRecord[] {
    return agents.map((a) => {
      const row = this.#latest.get(a.id);
      if (row === undefined || (a.lastSeenAt !== null && a.lastSeenAt > row.lastSeenAt)) return a;
      return { ...a, lastSeenAt: row.lastSeenAt, lastHealth: row.lastHealth ?? a.lastHealth };
    });
  }

  /**
   * Shutdown: the agents of `rows` (their last contact, no new health) left this replica together. Written
   * as one presence statement per {@link PRESENCE_BATCH_ROWS} (lastSeenAt never moves back, lastHealth
   * stays) and one status update of every agent recorded as held here; what waits for the flush is still
   * written by stop(), whatever the order.
   */
  async recordOffline(rows: PresenceRow[]): Promise<void> {
    for (let i = 0; i < rows.length; i += PRESENCE_BATCH_ROWS) {
      await this.#store.recordPresence(this.#replicaId, rows.slice(i, i + PRESENCE_BATCH_ROWS));
    }
    await this.#store.markOffline(this.#replicaId);
  }

  /** Writes every agent whose presence changed since the last flush: one statement per {@link PRESENCE_BATCH_ROWS}. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#write());
    return this.#flushing;
  }

  async #write(): Promise<void> {
    if (this.#dirty.size === 0) return;
    const rows = [...this.#dirty].map((id) => this.#latest.get(id)!);
    this.#dirty.clear();
    for (let i = 0; i < rows.length; i += PRESENCE_BATCH_ROWS) {
      const batch = rows.slice(i, i + PRESENCE_BATCH_ROWS);
      try {
        await this.#store.recordPresence(this.#replicaId, batch);
      } catch (err) {
        // Kept for the next flush, unless a newer value (already waiting) or a forget replaced it.
        for (const row of batch) if (this.#latest.get(row.id) === row) this.#dirty.add(row.id);
        this.#log.error({ err, agents: batch.length }, "recording agent presence failed; retried at the next flush");
      }
    }
  }
}
