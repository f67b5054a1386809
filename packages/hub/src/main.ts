import { Command } from "commander";
import { registerServe } from "./subcommands/serve.js";
import { registerToken } from "./subcommands/token.js";
import { ConfigError } from "./config.js";
import { HubError } from "./errors.js";

/** Longest a SIGTERM shutdown may take before the process exits anyway. */
const SHUTDOWN_DEADLINE_MS = 5000;

const program = new Command("uplink-hub").description("Uplink hub: the control plane agents connect to").showHelpAfterError();

registerServe(program, (hub, log) => {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "signal received");
    const deadline = setTimeout(() => {
      log.error("shutdown deadline passed; exiting");
      log.flush();
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    hub.close().then(
      () => {
        clearTimeout(deadline);
        log.flush(() => process.exit(0));
      },
      (err: unknown) => {
        log.error({ err }, "shutdown failed");
        log.flush(() => process.exit(1));
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
});
registerToken(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`uplink-hub: ${err.message}\n`);
    process.exit(2);
  }
  if (err instanceof HubError) {
    process.stderr.write(`uplink-hub: ${err.message}\n`);
    process.exit(1);
  }
  process.stderr.write(`uplink-hub: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
