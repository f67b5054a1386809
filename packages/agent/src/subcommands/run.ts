import { hostname as osHostname } from "node:os";
import type { Command } from "commander";
import type { Logger } from "pino";
import { createAgent } from "../agent.js";
import type { Collector } from "../collectors/collector.js";
import type { AgentConfig } from "../config.js";
import { readStateFile } from "../state-file.js";
import { loadTrust } from "../tls-trust.js";
import { settingOption, type Cli } from "./cli.js";

/** What the daemon needs besides its settings. */
export interface RunDeps {
  log: Logger;
  /** Aborting it stops the daemon cleanly. */
  shutdown: AbortSignal;
  collectors?: Collector[];
}

/**
 * Runs the daemon until `shutdown` aborts (then resolves after a clean close) or the hub rejects the key
 * (then rejects with `CredentialRejectedError`, after closing). Reads the state file first: `--hub`
 * overrides its hub, `--hostname` its hostname, `--ca` its CA file. Throws `StateFileError` when the state
 * file is unusable and `ConfigError` when the CA file is.
 */
export async function runAgent(config: AgentConfig, deps: RunDeps): Promise<void> {
  const state = await readStateFile(config.state);
  const hub = config.hub ?? state.hub;
  const ca = loadTrust(config.ca ?? state.ca);
  const log = deps.log.child({ agentId: state.agentId });
  const agent = createAgent(
    { ...config, hub, ca, agentKey: state.agentKey, hostname: config.hostname ?? state.hostname ?? osHostname(), labels: state.labels },
    { log, ...(deps.collectors !== undefined ? { collectors: deps.collectors } : {}) },
  );
  const stop = () => {
    log.info({ reason: String(deps.shutdown.reason) }, "shutting down");
    void agent.close();
  };
  if (deps.shutdown.aborted) return agent.close();
  deps.shutdown.addEventListener("abort", stop, { once: true });
  log.info({ hub, state: config.state, ca: config.ca ?? state.ca }, "agent starting");
  try {
    await agent.start();
  } finally {
    deps.shutdown.removeEventListener("abort", stop);
    await agent.close();
    log.info("agent stopped");
  }
}

/** Wires `uplink-agent run`: the daemon, logging JSON lines to stdout. */
export function registerRun(program: Command, cli: Cli): Command {
  return program
    .command("run")
    .description("run the agent: connect to the hub and answer its commands until SIGTERM/SIGINT")
    .addOption(settingOption("state"))
    .addOption(settingOption("hub"))
    .addOption(settingOption("hostname"))
    .addOption(settingOption("logLevel"))
    .addOption(settingOption("pingTimeoutMs"))
    .addOption(settingOption("reconnectBaseMs"))
    .addOption(settingOption("reconnectCapMs"))
    .addOption(settingOption("maxPayload"))
    .addOption(settingOption("queryTimeoutMs"))
    .addOption(settingOption("maxResultRows"))
    .addOption(settingOption("maxResultBytes"))
    .addOption(settingOption("maxWorkers"))
    .addOption(settingOption("workerMemoryMb"))
    .addOption(settingOption("ca"))
    .addOption(settingOption("hostRoot"))
    .addOption(settingOption("enableSecretTables"))
    .action(async (options: Record<string, unknown>) => {
      const config = cli.config(options);
      await runAgent(config, { log: cli.logger(config), shutdown: cli.shutdownSignal() });
    });
}
