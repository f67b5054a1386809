import {
  DEFAULT_HEALTH_INTERVAL_MS,
  DEFAULT_MAX_INFLIGHT,
  DEFAULT_MAX_PAYLOAD_BYTES,
  DEFAULT_PING_INTERVAL_MS,
  DEFAULT_QUERY_TIMEOUT_MS,
  DURATION_EXAMPLES,
  MAX_TIMEOUT_MS,
  parseDuration,
} from "@uplink/protocol";
import { fileURLToPath } from "node:url";
import { z } from "zod";

export const DEFAULT_PORT = 7070;
export const DEFAULT_HOST = "0.0.0.0";
export const DEFAULT_DATA_DIR = "./data";
export const DEFAULT_LOG_LEVEL = "info";
/** A result larger than this (as JSON) is not kept in the audit; the row says `resultTruncated`. */
export const DEFAULT_AUDIT_RESULT_MAX_BYTES = 256 * 1024;
/** Past this many bytes buffered towards one agent, new commands to it fail fast as busy. */
export const DEFAULT_SEND_HIGH_WATER_BYTES = 8 * 1024 * 1024;
/** Past this many bytes buffered towards one agent, its socket is terminated (it stopped reading). */
export const DEFAULT_SEND_HARD_LIMIT_BYTES = 64 * 1024 * 1024;
/** Unsolicited frames (anything but replies to the hub's commands) an agent may send per second. */
export const DEFAULT_AGENT_FRAME_RATE = 1000;
/** Agent handshakes in progress past which upgrades are paced (agents/agent-gateway.ts). */
export const DEFAULT_MAX_HANDSHAKES = 500;
/** Enrollment attempts allowed per client address per minute. */
export const DEFAULT_ENROLL_RATE = 30;
/** How long the response of a request made with an Idempotency-Key is kept for replay (24 h, as Stripe). */
export const DEFAULT_IDEMPOTENCY_RETENTION_MS = 24 * 3_600_000;
/** The longest idempotency retention accepted (30 days). */
const MAX_IDEMPOTENCY_RETENTION_MS = 30 * 24 * 3_600_000;
// History retention (store/pruner.ts): each kind of history is kept for an age and up to a count; 0 is no bound.
/** How long single-agent query audit rows are kept (30 days). */
export const DEFAULT_AUDIT_RETENTION_MS = 30 * 86_400_000;
/** Single-agent query audit rows kept at most, newest first. */
export const DEFAULT_AUDIT_MAX_ROWS = 1_000_000;
/** How long fan-outs (with their per-target rows) are kept once finished (30 days). */
export const DEFAULT_FANOUT_RETENTION_MS = 30 * 86_400_000;
/** Fan-out target rows kept at most, counted by whole fan-outs, newest first. */
export const DEFAULT_FANOUT_MAX_TARGETS = 10_000_000;
/** How long hub events are kept for `Last-Event-ID` replay (7 days). */
export const DEFAULT_EVENT_RETENTION_MS = 7 * 86_400_000;
/** Hub events kept at most for replay, newest first. */
export const DEFAULT_EVENT_MAX_ROWS = 10_000;
/** How long runs of schedules and policies (their stored results) are kept (7 days). */
export const DEFAULT_SCHEDULE_RESULT_RETENTION_MS = 7 * 86_400_000;
/** Runs of schedules and policies kept at most, newest first. */
export const DEFAULT_SCHEDULE_RESULT_MAX_ROWS = 1_000_000;
/** How often the pruner runs (each replica; jittered). */
export const DEFAULT_PRUNE_INTERVAL_MS = 60_000;
/** Rows one pruning statement deletes at most; the pruner yields to the event loop between statements. */
export const DEFAULT_PRUNE_BATCH_ROWS = 200;
/** The longest deadline a caller may ask of a query (docs/architecture.md, "Limits": query timeout 30 s, at most 60 s). */
export const DEFAULT_MAX_QUERY_TIMEOUT_MS = 60_000;
/** Lifetime of an enrollment token created without `ttlSeconds`. */
export const DEFAULT_ENROLL_TOKEN_TTL_MS = 24 * 3600_000;
/** How often a replica writes the lastSeenAt and health of agents whose status did not change (one batched statement). */
export const DEFAULT_PRESENCE_FLUSH_MS = 60_000;
// Destinations (destinations/): webhook attempts, retries, file rotation.
/** How long a webhook gets to answer one delivery before the attempt counts as failed. */
export const DEFAULT_DESTINATION_TIMEOUT_MS = 10_000;
/** The first retry delay of a failed delivery; it doubles per failure (with jitter) up to the maximum. */
export const DEFAULT_DESTINATION_RETRY_MIN_MS = 1_000;
export const DEFAULT_DESTINATION_RETRY_MAX_MS = 5 * 60_000;
/** Size past which a file destination is rotated. */
export const DEFAULT_DESTINATION_FILE_MAX_BYTES = 100 * 1024 * 1024;
/** Rotated files a file destination keeps (`path.1` … `path.N`). */
export const DEFAULT_DESTINATION_FILE_KEEP = 5;
/** Where `/metrics` is served: its own listener, on loopback unless told otherwise. */
export const DEFAULT_METRICS_HOST = "127.0.0.1";
export const DEFAULT_METRICS_PORT = 7071;

/** How long a web console session lasts (`POST /api/v1/session`). */
export const DEFAULT_SESSION_TTL_MS = 12 * 3_600_000;
/** The longest session accepted (30 days). */
const MAX_SESSION_TTL_MS = 30 * 86_400_000;
/** The web console's build, seen from this module in packages/hub/dist/: packages/hub/dist/console. */
export const DEFAULT_CONSOLE_DIR = fileURLToPath(new URL("console", import.meta.url));

/** Where `pnpm package` writes, seen from this module in packages/hub/dist/: the workspace's dist/packages. */
export const DEFAULT_PACKAGES_DIR = fileURLToPath(new URL("../../../dist/packages", import.meta.url));

/** `15000`, `15000ms`, `15s`, `2m`, `24h`, `30d` → milliseconds (the protocol's `parseDuration`). */
const Duration = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const ms = parseDuration(value);
  if (ms === undefined) {
    ctx.addIssue({ code: "custom", message: `expected a duration such as ${DURATION_EXAMPLES}, got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return ms;
});
const positiveDuration = (max = Number.MAX_SAFE_INTEGER) =>
  Duration.pipe(z.number().int().min(1, "must be at least 1 ms").max(max, `must be at most ${max} ms`));
const Int = z.coerce.number().int();
/** A retention age: a duration, 0 for no age bound. */
const RetentionAge = Duration.pipe(z.number().int().min(0).max(Number.MAX_SAFE_INTEGER));
/** A retention count: 0 for no count bound. */
const RetentionCount = Int.min(0);

const EnrollTokenTtl = positiveDuration(10 * 365 * 24 * 3600_000).default(DEFAULT_ENROLL_TOKEN_TTL_MS);
const EnrollTokenUses = Int.min(0).default(0);

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** The one schema of `uplink-hub serve`'s configuration. */
export const HubConfigSchema = z.object({
  port: Int.min(0).max(65535).default(DEFAULT_PORT),
  host: z.string().min(1).default(DEFAULT_HOST),
  dataDir: z.string().min(1).default(DEFAULT_DATA_DIR),
  /** Admission cap (WS_MAX_CLIENTS): 0 is unlimited, a negative value counts as 0. */
  maxAgents: Int.transform((n) => Math.max(0, n)).default(0),
  /** Handshakes in progress past which upgrades get 503 and a short Retry-After; 0 paces nothing. */
  maxHandshakes: Int.min(0).default(DEFAULT_MAX_HANDSHAKES),
  healthIntervalMs: positiveDuration().default(DEFAULT_HEALTH_INTERVAL_MS),
  presenceFlushMs: positiveDuration(24 * 3_600_000).default(DEFAULT_PRESENCE_FLUSH_MS),
  queryTimeoutMs: positiveDuration(MAX_TIMEOUT_MS).default(DEFAULT_QUERY_TIMEOUT_MS),
  pingIntervalMs: positiveDuration().default(DEFAULT_PING_INTERVAL_MS),
  maxPayloadBytes: Int.min(1024).default(DEFAULT_MAX_PAYLOAD_BYTES),
  maxInflight: Int.min(1).max(1024).default(DEFAULT_MAX_INFLIGHT),
  sendHighWaterBytes: Int.min(1024).default(DEFAULT_SEND_HIGH_WATER_BYTES),
  sendHardLimitBytes: Int.min(1024).default(DEFAULT_SEND_HARD_LIMIT_BYTES),
  agentFrameRate: Int.min(1).default(DEFAULT_AGENT_FRAME_RATE),
  enrollRate: Int.min(1).default(DEFAULT_ENROLL_RATE),
  idempotencyRetentionMs: positiveDuration(MAX_IDEMPOTENCY_RETENTION_MS).default(DEFAULT_IDEMPOTENCY_RETENTION_MS),
  auditRetentionMs: RetentionAge.default(DEFAULT_AUDIT_RETENTION_MS),
  auditMaxRows: RetentionCount.default(DEFAULT_AUDIT_MAX_ROWS),
  fanoutRetentionMs: RetentionAge.default(DEFAULT_FANOUT_RETENTION_MS),
  fanoutMaxTargets: RetentionCount.default(DEFAULT_FANOUT_MAX_TARGETS),
  eventRetentionMs: RetentionAge.default(DEFAULT_EVENT_RETENTION_MS),
  eventMaxRows: RetentionCount.default(DEFAULT_EVENT_MAX_ROWS),
  healthRetentionMs: RetentionAge.optional(),
  scheduleResultRetentionMs: RetentionAge.default(DEFAULT_SCHEDULE_RESULT_RETENTION_MS),
  scheduleResultMaxRows: RetentionCount.default(DEFAULT_SCHEDULE_RESULT_MAX_ROWS),
  pruneIntervalMs: positiveDuration().default(DEFAULT_PRUNE_INTERVAL_MS),
  pruneBatchRows: Int.min(1).max(100_000).default(DEFAULT_PRUNE_BATCH_ROWS),
  destinationTimeoutMs: positiveDuration(5 * 60_000).default(DEFAULT_DESTINATION_TIMEOUT_MS),
  destinationRetryMinMs: positiveDuration(3_600_000).default(DEFAULT_DESTINATION_RETRY_MIN_MS),
  destinationRetryMaxMs: positiveDuration(24 * 3_600_000).default(DEFAULT_DESTINATION_RETRY_MAX_MS),
  destinationFileMaxBytes: Int.min(1024).default(DEFAULT_DESTINATION_FILE_MAX_BYTES),
  destinationFileKeep: Int.min(0).max(1000).default(DEFAULT_DESTINATION_FILE_KEEP),
  redisUrl: z.url({ message: "expected a redis:// URL" }).optional(),
  redisPrefix: z.string().min(1).max(64).default("uplink:"),
  databaseUrl: z.url({ message: "expected a postgres:// URL" }).optional(),
  databaseSchema: z.string().regex(/^[a-z_][a-z0-9_]*$/, "expected a lower-case SQL identifier").default("public"),
  tlsCert: z.string().min(1).optional(),
  tlsKey: z.string().min(1).optional(),
  logLevel: z.enum(LOG_LEVELS).default(DEFAULT_LOG_LEVEL),
  // Hostile-input limits: the deadline cap, enrollment token defaults, the private metrics listener.
  maxQueryTimeoutMs: positiveDuration(MAX_TIMEOUT_MS).default(DEFAULT_MAX_QUERY_TIMEOUT_MS),
  enrollTokenTtlMs: EnrollTokenTtl,
  /** Uses an enrollment token allows when it names none; 0 is unlimited. */
  enrollTokenUses: EnrollTokenUses,
  metricsHost: z.string().min(1).default(DEFAULT_METRICS_HOST),
  /** `off` serves no metrics at all; 0 picks a free port. */
  metricsPort: z.union([z.literal("off"), Int.min(0).max(65535)]).default(DEFAULT_METRICS_PORT),
  // ── The web console: its files, and how long a signed-in session lasts ──
  consoleDir: z.string().min(1).default(DEFAULT_CONSOLE_DIR),
  sessionTtlMs: positiveDuration(MAX_SESSION_TTL_MS).default(DEFAULT_SESSION_TTL_MS),
  // ── Host installs: the packages served at /downloads/ and the URL hosts reach this hub at ──
  packagesDir: z.string().min(1).default(DEFAULT_PACKAGES_DIR),
  publicUrl: z
    .url({ protocol: /^https?$/, message: "expected the hub's http(s):// URL as hosts reach it" })
    .transform((u) => u.replace(/\/+$/, ""))
    .optional(),
})
  .refine((c) => c.sendHardLimitBytes > c.sendHighWaterBytes, { message: "must be larger than --send-high-water", path: ["sendHardLimitBytes"] })
  .refine((c) => (c.tlsCert === undefined) === (c.tlsKey === undefined), { message: "--tls-cert and --tls-key go together", path: ["tlsCert"] })
  .refine((c) => (c.redisUrl === undefined) === (c.databaseUrl === undefined), { message: "cluster mode needs both --redis-url and --database-url", path: ["redisUrl"] })
  .refine((c) => c.destinationRetryMinMs <= c.destinationRetryMaxMs, { message: "must not exceed --destination-retry-max", path: ["destinationRetryMinMs"] })
  .refine((c) => c.queryTimeoutMs <= c.maxQueryTimeoutMs, { message: "must not exceed --max-query-timeout", path: ["queryTimeoutMs"] });
export type HubConfig = Readonly<z.output<typeof HubConfigSchema>>;
export type HubConfigInput = z.input<typeof HubConfigSchema>;

/** How each setting is spelled on the command line and in the environment. */
export const HUB_SETTINGS: readonly { key: keyof HubConfig; flag: string; env: string; description: string }[] = [
  { key: "port", flag: "--port <port>", env: "UPLINK_PORT", description: "HTTP and WebSocket port (0 picks a free one)" },
  { key: "host", flag: "--host <host>", env: "UPLINK_HOST", description: "address to bind" },
  { key: "dataDir", flag: "--data-dir <dir>", env: "UPLINK_DATA_DIR", description: "directory of the embedded SQLite store" },
  { key: "maxAgents", flag: "--max-agents <n>", env: "WS_MAX_CLIENTS", description: "admission cap on agent sockets; 0 is unlimited" },
  { key: "maxHandshakes", flag: "--max-handshakes <n>", env: "UPLINK_MAX_HANDSHAKES", description: "agent handshakes in progress past which upgrades are paced (503, Retry-After: the agent's turn); 0 paces nothing" },
  { key: "healthIntervalMs", flag: "--health-interval <duration>", env: "UPLINK_HEALTH_INTERVAL", description: "health poll interval per agent (jittered)" },
  { key: "presenceFlushMs", flag: "--presence-flush <duration>", env: "UPLINK_PRESENCE_FLUSH", description: "how often the lastSeenAt and health of agents whose status did not change are written, in one batch" },
  { key: "queryTimeoutMs", flag: "--query-timeout <duration>", env: "UPLINK_QUERY_TIMEOUT", description: "default deadline of a query" },
  { key: "pingIntervalMs", flag: "--ping-interval <duration>", env: "UPLINK_PING_INTERVAL", description: "WebSocket ping interval; no pong by the next ping terminates the socket" },
  { key: "maxPayloadBytes", flag: "--max-payload <bytes>", env: "UPLINK_MAX_PAYLOAD", description: "largest WebSocket frame accepted (close 1009 above)" },
  { key: "maxInflight", flag: "--max-inflight <n>", env: "UPLINK_MAX_INFLIGHT", description: "queries an agent runs at once (sent in welcome)" },
  { key: "sendHighWaterBytes", flag: "--send-high-water <bytes>", env: "UPLINK_SEND_HIGH_WATER", description: "bytes buffered towards an agent past which new commands to it fail as busy" },
  { key: "sendHardLimitBytes", flag: "--send-hard-limit <bytes>", env: "UPLINK_SEND_HARD_LIMIT", description: "bytes buffered towards an agent past which its socket is terminated" },
  { key: "agentFrameRate", flag: "--agent-frame-rate <n>", env: "UPLINK_AGENT_FRAME_RATE", description: "unsolicited frames per second an agent may send; more count as violations" },
  { key: "enrollRate", flag: "--enroll-rate <n>", env: "UPLINK_ENROLL_RATE", description: "enrollment attempts per client address per minute" },
  { key: "idempotencyRetentionMs", flag: "--idempotency-retention <duration>", env: "UPLINK_IDEMPOTENCY_RETENTION", description: "how long a response to a request with an Idempotency-Key is kept for replay" },
  { key: "auditRetentionMs", flag: "--audit-retention <duration>", env: "UPLINK_AUDIT_RETENTION", description: "how long single-agent query audit rows are kept; 0 keeps them regardless of age" },
  { key: "auditMaxRows", flag: "--audit-max-rows <n>", env: "UPLINK_AUDIT_MAX_ROWS", description: "single-agent query audit rows kept at most (the newest); 0 is unlimited" },
  { key: "fanoutRetentionMs", flag: "--fanout-retention <duration>", env: "UPLINK_FANOUT_RETENTION", description: "how long finished fan-outs and their target rows are kept; 0 keeps them regardless of age" },
  { key: "fanoutMaxTargets", flag: "--fanout-max-targets <n>", env: "UPLINK_FANOUT_MAX_TARGETS", description: "fan-out target rows kept at most, by whole fan-outs, newest first; 0 is unlimited" },
  { key: "eventRetentionMs", flag: "--event-retention <duration>", env: "UPLINK_EVENT_RETENTION", description: "how long hub events are kept for Last-Event-ID replay; 0 keeps them regardless of age" },
  { key: "eventMaxRows", flag: "--event-max-rows <n>", env: "UPLINK_EVENT_MAX_ROWS", description: "hub events kept at most for replay (the newest); 0 is unlimited" },
  { key: "healthRetentionMs", flag: "--health-retention <duration>", env: "UPLINK_HEALTH_RETENTION", description: "how long agents' health samples (the agent page's chart) are kept; default 60 presence flushes; 0 keeps them regardless of age" },
  { key: "scheduleResultRetentionMs", flag: "--schedule-result-retention <duration>", env: "UPLINK_SCHEDULE_RESULT_RETENTION", description: "how long the runs of schedules and policies (their stored results) and policy changes are kept; 0 keeps them regardless of age" },
  { key: "scheduleResultMaxRows", flag: "--schedule-result-max-rows <n>", env: "UPLINK_SCHEDULE_RESULT_MAX_ROWS", description: "runs of schedules and policies kept at most (the newest); 0 is unlimited" },
  { key: "pruneIntervalMs", flag: "--prune-interval <duration>", env: "UPLINK_PRUNE_INTERVAL", description: "how often history past its retention is pruned" },
  { key: "pruneBatchRows", flag: "--prune-batch <n>", env: "UPLINK_PRUNE_BATCH", description: "rows one pruning statement deletes at most (the pruner yields between statements)" },
  { key: "destinationTimeoutMs", flag: "--destination-timeout <duration>", env: "UPLINK_DESTINATION_TIMEOUT", description: "how long a webhook destination gets to answer one delivery before it is retried" },
  { key: "destinationRetryMinMs", flag: "--destination-retry-min <duration>", env: "UPLINK_DESTINATION_RETRY_MIN", description: "first retry delay of a failed delivery; doubles per failure, with jitter" },
  { key: "destinationRetryMaxMs", flag: "--destination-retry-max <duration>", env: "UPLINK_DESTINATION_RETRY_MAX", description: "longest retry delay of a failed delivery" },
  { key: "destinationFileMaxBytes", flag: "--destination-file-max-bytes <bytes>", env: "UPLINK_DESTINATION_FILE_MAX_BYTES", description: "size past which a file destination is rotated (path.1, path.2, …)" },
  { key: "destinationFileKeep", flag: "--destination-file-keep <n>", env: "UPLINK_DESTINATION_FILE_KEEP", description: "rotated files a file destination keeps; 0 keeps none" },
  { key: "redisUrl", flag: "--redis-url <url>", env: "UPLINK_REDIS_URL", description: "cluster mode: Redis for agent ownership and cross-replica delivery (with --database-url)" },
  { key: "redisPrefix", flag: "--redis-prefix <prefix>", env: "UPLINK_REDIS_PREFIX", description: "cluster mode: prefix of every Redis key and channel" },
  { key: "databaseUrl", flag: "--database-url <url>", env: "UPLINK_DATABASE_URL", description: "cluster mode: PostgreSQL store shared by every replica (with --redis-url)" },
  { key: "databaseSchema", flag: "--database-schema <name>", env: "UPLINK_DATABASE_SCHEMA", description: "cluster mode: PostgreSQL schema of the store" },
  { key: "tlsCert", flag: "--tls-cert <file>", env: "UPLINK_TLS_CERT", description: "PEM certificate (chain): serve HTTPS and WSS" },
  { key: "tlsKey", flag: "--tls-key <file>", env: "UPLINK_TLS_KEY", description: "PEM private key of --tls-cert" },
  { key: "logLevel", flag: "--log-level <level>", env: "UPLINK_LOG_LEVEL", description: "fatal, error, warn, info, debug, trace or silent" },
  { key: "maxQueryTimeoutMs", flag: "--max-query-timeout <duration>", env: "UPLINK_MAX_QUERY_TIMEOUT", description: "longest deadline a caller may ask of a query (more is a 400)" },
  { key: "enrollTokenTtlMs", flag: "--enroll-token-ttl <duration>", env: "UPLINK_ENROLL_TOKEN_TTL", description: "lifetime of an enrollment token created without one" },
  { key: "enrollTokenUses", flag: "--enroll-token-uses <n>", env: "UPLINK_ENROLL_TOKEN_USES", description: "enrollments an enrollment token allows when it names none; 0 is unlimited" },
  { key: "metricsHost", flag: "--metrics-host <host>", env: "UPLINK_METRICS_HOST", description: "address of the /metrics listener" },
  { key: "metricsPort", flag: "--metrics-port <port>", env: "UPLINK_METRICS_PORT", description: "port of the /metrics listener (0 picks a free one; off serves no metrics)" },
  { key: "consoleDir", flag: "--console-dir <dir>", env: "UPLINK_CONSOLE_DIR", description: "the web console's files served at / (what pnpm build writes to packages/hub/dist/console)" },
  { key: "sessionTtlMs", flag: "--session-ttl <duration>", env: "UPLINK_SESSION_TTL", description: "how long a web console session lasts (never past its token's expiry)" },
  { key: "packagesDir", flag: "--packages-dir <dir>", env: "UPLINK_PACKAGES_DIR", description: "packages served at /downloads/ (what pnpm package writes)" },
  { key: "publicUrl", flag: "--public-url <url>", env: "UPLINK_PUBLIC_URL", description: "the hub's URL as hosts reach it, for install.sh and install lines (default: the request's Host)" },
];

/**
 * The enrollment token defaults of `uplink-hub token create`, which writes to the store without a
 * running hub: the same settings as `serve`'s, from the environment. Throws a ConfigError naming a bad one.
 */
export function enrollTokenDefaults(env: NodeJS.ProcessEnv): { ttlMs: number; maxUses: number | undefined } {
  const read = <T>(schema: z.ZodType<T>, name: string): T => {
    const value = env[name] === "" ? undefined : env[name];
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw new ConfigError(`invalid ${name}: ${parsed.error.issues[0]!.message}`);
    return parsed.data;
  };
  const maxUses = read(EnrollTokenUses, "UPLINK_ENROLL_TOKEN_USES");
  return { ttlMs: read(EnrollTokenTtl, "UPLINK_ENROLL_TOKEN_TTL"), maxUses: maxUses === 0 ? undefined : maxUses };
}

/** A setting has a bad value; the message names it. */
export class ConfigError extends Error {}

/**
 * Parses the configuration once: command-line values win over environment variables, which win over
 * defaults. Throws a ConfigError naming the setting when a value is bad.
 */
export function parseHubConfig(flags: Record<string, unknown>, env: NodeJS.ProcessEnv): HubConfig {
  const raw: Record<string, unknown> = {};
  for (const s of HUB_SETTINGS) {
    const value = flags[s.key] ?? env[s.env];
    if (value !== undefined && value !== "") raw[s.key] = value;
  }
  const parsed = HubConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const setting = HUB_SETTINGS.find((s) => s.key === issue.path[0]);
    const name = setting ? `${setting.flag.split(" ")[0]} / ${setting.env}` : String(issue.path[0]);
    throw new ConfigError(`invalid ${name}: ${issue.message}`);
  }
  return Object.freeze(parsed.data);
}
