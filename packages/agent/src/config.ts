import {
  DEFAULT_AGENT_PING_TIMEOUT_MS,
  DEFAULT_MAX_PAYLOAD_BYTES,
  DEFAULT_MAX_RESULT_BYTES,
  DEFAULT_MAX_RESULT_ROWS,
  DEFAULT_QUERY_TIMEOUT_MS,
  Labels,
  MAX_TIMEOUT_MS,
  RECONNECT_BASE_MS,
  RECONNECT_CAP_MS,
} from "@uplink/protocol";
import { z } from "zod";
import { ConfigError } from "./errors.js";

/** Where `enroll` writes and `run` reads the agent's identity, relative to the working directory. */
export const DEFAULT_STATE_PATH = "./uplink-agent-state.json";
/** pino level of the daemon's JSON log lines. */
export const DEFAULT_LOG_LEVEL = "info";
/** Where `service install` writes `uplink-agent.service`. */
export const DEFAULT_UNIT_DIR = "/etc/systemd/system";
/** Silence (no ping from the hub) after which the agent reconnects: the protocol's figure (rule 11). */
export const DEFAULT_PING_TIMEOUT_MS = DEFAULT_AGENT_PING_TIMEOUT_MS;
/** Reconnect backoff base and cap: the protocol's figures (rule 12). */
export const DEFAULT_RECONNECT_BASE_MS = RECONNECT_BASE_MS;
export const DEFAULT_RECONNECT_CAP_MS = RECONNECT_CAP_MS;
/** Largest frame the agent accepts from the hub. */
export const DEFAULT_MAX_PAYLOAD = DEFAULT_MAX_PAYLOAD_BYTES;
/** Most queries (each in its own worker process) the agent runs at once, whatever the hub's `welcome` asks. */
export const DEFAULT_MAX_WORKERS = 8;
/** Resident memory one query worker may hold, in MiB (docs/architecture.md, "Limits"). */
export const DEFAULT_WORKER_MEMORY_MB = 256;

/** Every setting of `uplink-agent`: its command-line flag and the environment variable that stands in for it. */
export const SETTINGS = {
  hub: { flags: "--hub <url>", env: "UPLINK_HUB", description: "hub base URL, http(s)://host:port" },
  token: {
    flags: "--token <token>",
    env: "UPLINK_ENROLL_TOKEN",
    description: "enrollment token (visible in ps as a flag: prefer the variable or --token-file)",
  },
  tokenFile: {
    flags: "--token-file <file>",
    env: "UPLINK_ENROLL_TOKEN_FILE",
    description: "file holding the enrollment token (wins over --token)",
  },
  labels: {
    flags: "--label <key=value>",
    env: "UPLINK_LABELS",
    description: "label of this host, repeatable; the variable takes k=v,k=v",
  },
  state: { flags: "--state <path>", env: "UPLINK_STATE", description: `state file (default ${DEFAULT_STATE_PATH})` },
  hostname: { flags: "--hostname <name>", env: "UPLINK_HOSTNAME", description: "hostname to report (default: the OS's)" },
  logLevel: { flags: "--log-level <level>", env: "UPLINK_LOG_LEVEL", description: `log level (default ${DEFAULT_LOG_LEVEL})` },
  pingTimeoutMs: {
    flags: "--ping-timeout-ms <ms>",
    env: "UPLINK_PING_TIMEOUT_MS",
    description: `reconnect when the hub sent no ping for this long (default ${DEFAULT_PING_TIMEOUT_MS})`,
  },
  reconnectBaseMs: {
    flags: "--reconnect-base-ms <ms>",
    env: "UPLINK_RECONNECT_BASE_MS",
    description: `first reconnect backoff ceiling (default ${DEFAULT_RECONNECT_BASE_MS})`,
  },
  reconnectCapMs: {
    flags: "--reconnect-cap-ms <ms>",
    env: "UPLINK_RECONNECT_CAP_MS",
    description: `largest reconnect backoff (default ${DEFAULT_RECONNECT_CAP_MS})`,
  },
  maxPayload: {
    flags: "--max-payload <bytes>",
    env: "UPLINK_MAX_PAYLOAD",
    description: `largest frame accepted from the hub (default ${DEFAULT_MAX_PAYLOAD})`,
  },
  queryTimeoutMs: {
    flags: "--query-timeout-ms <ms>",
    env: "UPLINK_QUERY_TIMEOUT_MS",
    description: `deadline of a query whose command has none (default ${DEFAULT_QUERY_TIMEOUT_MS})`,
  },
  maxResultRows: {
    flags: "--max-result-rows <n>",
    env: "UPLINK_MAX_RESULT_ROWS",
    description: `rows kept in a result (default ${DEFAULT_MAX_RESULT_ROWS})`,
  },
  maxResultBytes: {
    flags: "--max-result-bytes <bytes>",
    env: "UPLINK_MAX_RESULT_BYTES",
    description: `bytes kept in a result (default ${DEFAULT_MAX_RESULT_BYTES})`,
  },
  maxWorkers: {
    flags: "--max-workers <n>",
    env: "UPLINK_MAX_WORKERS",
    description: `most queries run at once, each in its own worker process; the hub's maxInflight is followed up to this, queries beyond it are answered busy (default ${DEFAULT_MAX_WORKERS})`,
  },
  workerMemoryMb: {
    flags: "--worker-memory-mb <mb>",
    env: "UPLINK_WORKER_MEMORY_MB",
    description: `memory one query worker may hold; a query past it fails with resource_limit and its worker is replaced (default ${DEFAULT_WORKER_MEMORY_MB})`,
  },
  ca: {
    flags: "--ca <file>",
    env: "UPLINK_CA",
    description: "PEM file of CA certificate(s) to trust for an https:// hub, besides the system CAs",
  },
  hostRoot: {
    flags: "--host-root <dir>",
    env: "UPLINK_HOST_ROOT",
    description: "directory the host tables read as / for host files (/etc, /home, /var; not /proc), e.g. a mounted host (default /)",
  },
  enableSecretTables: {
    flags: "--enable-secret-tables",
    env: "UPLINK_ENABLE_SECRET_TABLES",
    description: "answer the tables that expose secrets or personal data: process_envs, shell_history, authorized_keys, user_ssh_keys (default off)",
  },
  unitDir: { flags: "--unit-dir <dir>", env: "UPLINK_UNIT_DIR", description: `systemd unit directory (default ${DEFAULT_UNIT_DIR})` },
  user: { flags: "--user <name>", env: "UPLINK_SERVICE_USER", description: "system user the service runs as" },
} as const;
/** The name of one setting, as the config schema keys it. */
export type SettingKey = keyof typeof SETTINGS;

/** `--flag / ENV_VAR`: how error messages name a setting. */
export function settingName(key: SettingKey): string {
  const { flags, env } = SETTINGS[key];
  return `${flags.split(" ")[0]} / ${env}`;
}

const positiveInt = (max: number) => z.coerce.number().int().positive().max(max);

const HubUrl = z
  .string()
  .refine((value) => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol), "must be an http(s):// URL")
  .transform((value) => value.replace(/\/+$/, ""));

/** `k=v` items, from repeated flags or one comma-separated environment variable. */
const LabelList = z
  .union([z.string(), z.array(z.string())])
  .transform((input, ctx) => {
    const labels: Record<string, string> = {};
    for (const item of [input].flat().flatMap((s) => s.split(","))) {
      const text = item.trim();
      if (text === "") continue;
      const eq = text.indexOf("=");
      if (eq <= 0) {
        ctx.addIssue({ code: "custom", message: `"${text}" is not key=value` });
        return z.NEVER;
      }
      labels[text.slice(0, eq).trim()] = text.slice(eq + 1).trim();
    }
    return labels;
  })
  .pipe(Labels);

const AgentConfigSchema = z
  .object({
    hub: HubUrl.optional(),
    token: z.string().min(1).optional(),
    tokenFile: z.string().min(1).optional(),
    labels: LabelList.default({}),
    state: z.string().min(1).default(DEFAULT_STATE_PATH),
    hostname: z.string().min(1).max(255).optional(),
    logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default(DEFAULT_LOG_LEVEL),
    pingTimeoutMs: positiveInt(MAX_TIMEOUT_MS).default(DEFAULT_PING_TIMEOUT_MS),
    reconnectBaseMs: positiveInt(MAX_TIMEOUT_MS).default(DEFAULT_RECONNECT_BASE_MS),
    reconnectCapMs: positiveInt(MAX_TIMEOUT_MS).default(DEFAULT_RECONNECT_CAP_MS),
    maxPayload: positiveInt(1024 * 1024 * 1024).default(DEFAULT_MAX_PAYLOAD),
    queryTimeoutMs: positiveInt(MAX_TIMEOUT_MS).default(DEFAULT_QUERY_TIMEOUT_MS),
    maxResultRows: positiveInt(10_000_000).default(DEFAULT_MAX_RESULT_ROWS),
    maxResultBytes: positiveInt(1024 * 1024 * 1024).default(DEFAULT_MAX_RESULT_BYTES),
    maxWorkers: positiveInt(1024).default(DEFAULT_MAX_WORKERS),
    // Below 64 MiB a worker could not even start (Node and SQLite take about 45 MiB before any query).
    workerMemoryMb: z.coerce.number().int().min(64).max(1024 * 1024).default(DEFAULT_WORKER_MEMORY_MB),
    ca: z.string().min(1).optional(),
    hostRoot: z
      .string()
      .min(1)
      .refine((p) => p.startsWith("/"), "must be an absolute path")
      .default("/"),
    enableSecretTables: z
      .union([z.boolean(), z.enum(["1", "true", "yes", "on", "0", "false", "no", "off"])])
      .transform((v) => v === true || v === "1" || v === "true" || v === "yes" || v === "on")
      .default(false),
    unitDir: z.string().min(1).default(DEFAULT_UNIT_DIR),
    user: z
      .string()
      .regex(/^[a-z_][a-z0-9_.-]{0,31}$/i, "must be a plain user name")
      .optional(),
  })
  .refine((c) => c.reconnectCapMs >= c.reconnectBaseMs, {
    message: "must be at least the reconnect base",
    path: ["reconnectCapMs"],
  });

/** The agent's configuration: every setting, validated and defaulted. Frozen once parsed. */
export type AgentConfig = Readonly<z.output<typeof AgentConfigSchema>>;
/** Raw setting values by key, as flags and environment variables give them (strings, or lists for labels). */
export type RawSettings = Partial<Record<SettingKey, unknown>>;

/**
 * Parses raw settings with the agent's one config schema. An empty string counts as unset.
 * Throws {@link ConfigError} naming the first bad setting by flag and environment variable.
 */
export function parseConfig(raw: RawSettings): AgentConfig {
  const input = Object.fromEntries(Object.entries(raw).filter(([, value]) => value !== undefined && value !== ""));
  const parsed = AgentConfigSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = issue?.path[0];
    const setting = typeof key === "string" && Object.hasOwn(SETTINGS, key) ? settingName(key as SettingKey) : "setting";
    throw new ConfigError(setting, issue?.message ?? "invalid value");
  }
  return Object.freeze(parsed.data);
}

/** Returns a setting a command cannot do without, or throws {@link ConfigError} naming it. */
export function requireSetting<K extends SettingKey & keyof AgentConfig>(
  config: AgentConfig,
  key: K,
): NonNullable<AgentConfig[K]> {
  const value = config[key];
  if (value === undefined || value === null) throw new ConfigError(settingName(key), "is required");
  return value as NonNullable<AgentConfig[K]>;
}
