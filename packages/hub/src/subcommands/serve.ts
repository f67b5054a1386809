import { Option, type Command } from "commander";
import { buildHub, newHubId, type Hub } from "../hub.js";
import { HUB_SETTINGS, parseHubConfig } from "../config.js";
import { createLogger, type Logger } from "../logger.js";

/** `uplink-hub serve`: every setting as a flag, each with its environment variable. */
export function registerServe(program: Command, onStarted: (hub: Hub, log: Logger) => void): void {
  const serve = program.command("serve").description("run the hub: agent WebSocket endpoint and REST API");
  // Commander names a flag's value after the flag (`--health-interval` → `healthInterval`), which is not
  // always the setting's key (`healthIntervalMs`): map each option back to its key explicitly.
  const options = HUB_SETTINGS.map((s) => {
    const option = new Option(s.flag, `${s.description} (env ${s.env})`);
    serve.addOption(option);
    return [s.key, option] as const;
  });
  serve.action(async (parsed: Record<string, unknown>) => {
    const flags = Object.fromEntries(options.map(([key, option]) => [key, parsed[option.attributeName()]]));
    const { hub, log } = await startHub(flags);
    onStarted(hub, log);
  });
}

/**
 * Parses the configuration, opens the store (and in cluster mode the bus), builds the hub and listens.
 * Throws ConfigError on a bad setting.
 */
export async function startHub(flags: Record<string, unknown>): Promise<{ hub: Hub; log: Logger }> {
  const config = parseHubConfig(flags, process.env);
  const log = createLogger(config.logLevel);
  if (config.databaseUrl === undefined || config.redisUrl === undefined) {
    const hub = buildHub(config, { log });
    await hub.listen();
    return { hub, log };
  }
  // Cluster mode: loaded only when asked for, so the embedded hub never loads pg or ioredis.
  const [{ PostgresStore }, { RedisBus }] = await Promise.all([import("../store/postgres-store.js"), import("../cluster/redis-bus.js")]);
  const store = await PostgresStore.open(config.databaseUrl, { schema: config.databaseSchema });
  const replicaId = newHubId();
  const bus = await RedisBus.connect({ url: config.redisUrl, prefix: config.redisPrefix, replicaId, log: log.child({ hubId: replicaId }) }).catch(async (err: unknown) => {
    await store.close();
    throw err;
  });
  const hub = buildHub(config, { log, store, bus });
  await hub.listen();
  return { hub, log };
}
