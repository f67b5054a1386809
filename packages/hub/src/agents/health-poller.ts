import { randomUUID } from "node:crypto";
import { HEALTH_SESSION_ID, HealthResult, MAX_HEALTH_RESULT_BYTES } from "@uplink/protocol";
import type { Logger } from "../logger.js";
import type { HubMetrics } from "../metrics.js";
import type { AgentConnection } from "./agent-connection.js";
import type { AgentRegistry } from "./agent-registry.js";

/** Size of a value as UTF-8 JSON (what storing it costs); Infinity when it cannot be serialised. */
function jsonSize(value: unknown): number {
  try {
    const json = JSON.stringify(value);
    return json === undefined ? 0 : Buffer.byteLength(json);
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

/**
 * Background health polls: one timer per connection, first fired at a random point of the first
 * interval (so a reconnect storm does not poll in lockstep), then every interval ±10 %.
 * Polls use their own session (rule 4) and their own lane on the agent (rule 6).
 */
export class HealthPoller {
  readonly #timers = new Map<AgentConnection, NodeJS.Timeout>();
  readonly #intervalMs: number;
  readonly #registry: AgentRegistry;
  readonly #metrics: HubMetrics;
  readonly #log: Logger;

  constructor(deps: { intervalMs: number; registry: AgentRegistry; metrics: HubMetrics; log: Logger }) {
    this.#intervalMs = deps.intervalMs;
    this.#registry = deps.registry;
    this.#metrics = deps.metrics;
    this.#log = deps.log;
  }

  track(connection: AgentConnection): void {
    this.#schedule(connection, Math.random() * this.#intervalMs);
  }

  untrack(connection: AgentConnection): void {
    clearTimeout(this.#timers.get(connection));
    this.#timers.delete(connection);
  }

  stop(): void {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }

  #schedule(connection: AgentConnection, delayMs: number): void {
    this.#timers.set(connection, setTimeout(() => void this.#poll(connection), delayMs));
  }

  async #poll(connection: AgentConnection): Promise<void> {
    if (connection.state !== "open") return;
    const correlationId = randomUUID();
    const log = this.#log.child({ correlationId, agentId: connection.agentId });
    let health: HealthResult | null = null;
    let answered = false;
    try {
      const reply = await connection.send({
        correlationId,
        sessionId: HEALTH_SESSION_ID,
        kind: "health",
        collector: "host",
        query: "",
        timeoutMs: this.#intervalMs,
        log,
      });
      // Any answer that is not an error is healthy: a legacy agent may answer with no health result, or one
      // of its own shape. Only a well-formed result within its schema's bounds is kept as lastHealth; one
      // too large to keep is a violation, and the poll fails.
      const size = reply.ok ? jsonSize(reply.result) : 0;
      if (size > MAX_HEALTH_RESULT_BYTES) {
        this.#metrics.frameViolations.inc();
        log.warn({ bytes: size, error: `health result over ${MAX_HEALTH_RESULT_BYTES} bytes` }, "invalid health result refused");
      } else if (reply.ok) {
        answered = true;
        const parsed = HealthResult.safeParse(reply.result);
        if (parsed.success) health = parsed.data;
        else if (reply.result !== undefined) log.debug({ error: "health result out of its schema" }, "health result not kept");
      } else log.warn({ code: reply.code, error: reply.error }, "health poll failed");
    } catch (err) {
      log.warn({ err: (err as Error).message }, "health poll failed");
    }
    if (connection.state !== "open" || !this.#timers.has(connection)) return;
    if (!answered) this.#metrics.healthPollFailures.inc();
    this.#registry.recordHealth(connection, health, answered);
    this.#schedule(connection, this.#intervalMs * (0.9 + Math.random() * 0.2));
  }
}
