import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** Outcome label of a finished command. */
export type CommandOutcome = "ok" | "error" | "busy" | "timeout" | "disconnected" | "cancelled";

/**
 * The hub's Prometheus metrics, on a registry of its own (so several hubs in one process never share
 * counters). Gauges that mirror live state read it at scrape time through `observe`.
 */
export class HubMetrics {
  readonly registry = new Registry();
  readonly commandsSent = new Counter({
    name: "uplink_commands_sent_total",
    help: "Commands written to an agent socket, by kind",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });
  readonly commandsCompleted = new Counter({
    name: "uplink_commands_completed_total",
    help: "Commands that ended, by kind and outcome (ok, error, busy, timeout, disconnected, cancelled)",
    labelNames: ["kind", "outcome"] as const,
    registers: [this.registry],
  });
  readonly commandDuration = new Histogram({
    name: "uplink_command_duration_seconds",
    help: "Time from sending a command to its reply, by kind",
    labelNames: ["kind"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly orphanReplies = new Counter({
    name: "uplink_orphan_replies_total",
    help: "Replies dropped because no pending command on that connection matched (late, duplicate, unknown)",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });
  readonly legacyReplies = new Counter({
    name: "uplink_legacy_replies_total",
    help: "Agent replies read in a legacy shape, by shape (a reply counts once under each shape it shows)",
    labelNames: ["shape"] as const,
    registers: [this.registry],
  });
  readonly frameViolations = new Counter({
    name: "uplink_frame_violations_total",
    help: "Agent frames that were not JSON or failed their schema",
    registers: [this.registry],
  });
  readonly agentConnections = new Counter({
    name: "uplink_agent_connections_total",
    help: "Agent sockets accepted",
    registers: [this.registry],
  });
  readonly upgradesPaced = new Counter({
    name: "uplink_agent_upgrades_paced_total",
    help: "Agent upgrade attempts refused (503, a short random Retry-After) because too many handshakes were in progress",
    registers: [this.registry],
  });
  readonly upgradesRefused = new Counter({
    name: "uplink_agent_upgrades_refused_total",
    help: "Agent upgrade attempts refused before the upgrade, by HTTP status",
    labelNames: ["status"] as const,
    registers: [this.registry],
  });
  readonly healthPollFailures = new Counter({
    name: "uplink_health_poll_failures_total",
    help: "Health polls that timed out or failed",
    registers: [this.registry],
  });
  readonly storeWriteSeconds = new Histogram({
    name: "uplink_store_write_seconds",
    help: "Latency of audit writes to the store",
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.1],
    registers: [this.registry],
  });

  // Crash recovery and cluster reconciliation.
  readonly closedOut = new Counter({
    name: "uplink_work_closed_out_total",
    help: "Open work a dead hub left, closed out by this hub: single commands and fan-outs, by code (hub_restarted, replica_lost)",
    labelNames: ["kind", "code"] as const,
    registers: [this.registry],
  });
  readonly reconciled = new Counter({
    name: "uplink_cluster_reconciled_total",
    help: "Held agent sockets set right without a bus notice (revoked, taken_over) and takeover notices ignored as meant for an older connection (stale_notice)",
    labelNames: ["action"] as const,
    registers: [this.registry],
  });

  readonly fanouts = new Counter({
    name: "uplink_fanouts_total",
    help: "Fan-out queries started",
    registers: [this.registry],
  });
  readonly sseClients = new Gauge({
    name: "uplink_sse_clients",
    help: "Server-Sent Events streams open (hub events and fan-out results)",
    labelNames: ["stream"] as const,
    registers: [this.registry],
  });
  readonly eventsPublished = new Counter({
    name: "uplink_events_published_total",
    help: "Hub events appended to the event log, by type",
    labelNames: ["type"] as const,
    registers: [this.registry],
  });

  readonly prunedRows = new Counter({
    name: "uplink_pruned_rows_total",
    help: "History rows deleted by the pruner past their retention, by table (audit, fanout_targets, fanouts, events, schedule_runs; sessions: expired console sessions; outbox: delivered events)",
    labelNames: ["table"] as const,
    registers: [this.registry],
  });

  readonly scheduleRuns = new Counter({
    name: "uplink_schedule_runs_total",
    help: "Runs of schedules and policies on agents that ended, by kind (schedule, policy) and status (ok, error, timeout, offline, cancelled)",
    labelNames: ["kind", "status"] as const,
    registers: [this.registry],
  });

  readonly clusterDelivery = new Counter({
    name: "uplink_cluster_commands_total",
    help: "Cross-replica command delivery by stage: published (to the owner's channel), delivered (to a socket, on the owner), returned (reply back on the requester), orphaned (reply matched nothing), undeliverable (no owner listening)",
    labelNames: ["stage"] as const,
    registers: [this.registry],
  });

  readonly idempotentReplays = new Counter({
    name: "uplink_idempotent_replays_total",
    help: "Requests with an Idempotency-Key answered with the stored first response (no work done)",
    registers: [this.registry],
  });
  readonly idempotencyMismatches = new Counter({
    name: "uplink_idempotency_mismatches_total",
    help: "Requests refused 422 because their Idempotency-Key was used with another request, by reason (body: method, path or body differ; requester: another token)",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });

  readonly destinationDeliveries = new Counter({
    name: "uplink_destination_deliveries_total",
    help: "Events delivered to destinations (a webhook answered 2xx, a file has the line on disk), by destination kind",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });
  readonly destinationFailures = new Counter({
    name: "uplink_destination_failures_total",
    help: "Failed delivery attempts to destinations (retried with backoff), by destination kind",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Runs a store write, timing it into uplink_store_write_seconds. */
  async timeStoreWrite<T>(write: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await write();
    } finally {
      this.storeWriteSeconds.observe((performance.now() - t0) / 1000);
    }
  }

  /** Registers the backlog gauge, read from the store at scrape time (every replica reports the same). */
  observeDestinations(backlog: () => Promise<Record<string, number>>): void {
    new Gauge({
      name: "uplink_destination_backlog",
      help: "Events not yet delivered to destinations, summed over destinations, by destination kind",
      labelNames: ["kind"] as const,
      registers: [this.registry],
      async collect() {
        try {
          for (const [kind, n] of Object.entries(await backlog())) this.set({ kind }, n);
        } catch {
          // The store is unreachable: the gauge keeps its last values; readiness says why.
        }
      },
    });
  }

  /** Registers the gauge of hosts per policy and state, read at scrape time. */
  observePolicies(counts: () => Iterable<{ policy: string; pass: number; fail: number; unknown: number }>): void {
    new Gauge({
      name: "uplink_policy_hosts",
      help: "Hosts per policy (by name) and state (pass, fail, unknown)",
      labelNames: ["policy", "state"] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const c of counts()) for (const state of ["pass", "fail", "unknown"] as const) this.set({ policy: c.policy, state }, c[state]);
      },
    });
  }

  /** Registers the gauge of how late the scheduler's oldest due run is, read at scrape time. */
  observeScheduleLag(lagSeconds: () => number): void {
    new Gauge({
      name: "uplink_schedule_lag_seconds",
      help: "How late the oldest due run of a schedule or policy is on the hub running them (0: none waits); above 0 for long, the hub cannot carry its schedules' rate",
      registers: [this.registry],
      collect() {
        this.set(lagSeconds());
      },
    });
  }

  /** Registers gauges read from live state at scrape time. */
  observe(sources: { connectedAgents(): number; pendingCommands(): number }): void {
    new Gauge({
      name: "uplink_agents_connected",
      help: "Agent sockets open on this hub",
      registers: [this.registry],
      collect() {
        this.set(sources.connectedAgents());
      },
    });
    new Gauge({
      name: "uplink_pending_commands",
      help: "Commands awaiting a reply on this hub",
      registers: [this.registry],
      collect() {
        this.set(sources.pendingCommands());
      },
    });
  }
}
