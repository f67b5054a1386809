import { Option, type Command } from "commander";
import { buildHub, type Hub } from "../hub.js";
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

/** Parses the configuration, builds the hub and listens. Throws ConfigError on a bad setting. */
export async function startHub(flags: Record<string, unknown>): Promise<{ hub: Hub; log: Logger }> {
  const config = parseHubConfig(flags, process.env);
  const log = createLogger(config.logLevel);
  const hub = buildHub(config, { log });
  await hub.listen();
  return { hub, log };
}
