import type { Command } from "commander";
import { installService } from "../service.js";
import { settingOption, type Cli } from "./cli.js";

/** Wires `uplink-agent service install`: writes the systemd unit and prints how to enable it. */
export function registerService(program: Command, cli: Cli): Command {
  const service = program.command("service").description("manage the agent's system service");
  service
    .command("install")
    .description("write a systemd unit running `uplink-agent run` (never calls systemctl)")
    .addOption(settingOption("state"))
    .addOption(settingOption("unitDir"))
    .addOption(settingOption("user"))
    .action(async (options: Record<string, unknown>) => {
      const installed = await installService(cli.config(options));
      cli.print(`wrote ${installed.unitPath}`);
      if (!installed.stateExists) {
        cli.print(`note: ${installed.statePath} does not exist yet; run \`uplink-agent enroll\` before starting the service`);
      }
      cli.print("enable it with: systemctl daemon-reload && systemctl enable --now uplink-agent");
    });
  return service;
}
