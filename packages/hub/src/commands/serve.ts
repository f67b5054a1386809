import type { Command } from "commander";
import { buildHub, type Hub } from "../hub.js";
import { HUB_SETTINGS, parseHubConfig } from "../config.js";
import { createLogger, type Logger } from "../logger.js";

/** `uplink-hub serve`: every setting as a flag, each with its environment variable. */
export function registerServe(program: Command, onStarted: (hub: Hub, log: Logger) => void): void {
  const serve = program.command("serve").description("run the hub: agent WebSocket endpoint and REST API");
  for (const s of HUB_SETTINGS) serve.option(s.flag, `${s.description} (env ${s.env})`);
  serve.action(async (flags: Record<string, unknown>) => {
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
