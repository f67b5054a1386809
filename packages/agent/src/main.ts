import { Command, CommanderError } from "commander";
import { printable } from "@uplink/protocol";
import { pino, type Logger } from "pino";
import { registerEnroll } from "./subcommands/enroll.js";
import { registerQuery } from "./subcommands/query.js";
import { registerRun } from "./subcommands/run.js";
import { registerService } from "./subcommands/service.js";
import { registerTables } from "./subcommands/tables.js";
import { settingsFrom, type Cli } from "./subcommands/cli.js";
import { parseConfig, type AgentConfig } from "./config.js";
import { AgentError, ConfigError, CredentialRejectedError } from "./errors.js";
import { ExitCode } from "./exit-code.js";
import { AGENT_VERSION } from "./version.js";

/** Fields whose values never reach a log line. */
const REDACT_PATHS = ["agentKey", "token", "authorization", "*.agentKey", "*.token", "*.authorization", "headers.authorization"];

function createLogger(config: AgentConfig): Logger {
  return pino({
    level: config.logLevel,
    base: { pid: process.pid, agentVersion: AGENT_VERSION },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
  });
}

/** The one place typed errors become exit codes and messages. */
function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) {
    // Commander has already printed its message or the help text.
    return err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
  }
  // A message may quote what the hub answered (enroll): never let it act on the terminal.
  const message = printable(err instanceof Error ? err.message : String(err));
  if (err instanceof ConfigError) {
    process.stderr.write(`uplink-agent: ${message}\n`);
    return ExitCode.USAGE;
  }
  if (err instanceof CredentialRejectedError) {
    process.stderr.write(`uplink-agent: ${message}\n`);
    return ExitCode.CREDENTIAL_REJECTED;
  }
  if (err instanceof AgentError) {
    process.stderr.write(`uplink-agent: ${message}\n`);
    return ExitCode.FAILURE;
  }
  process.stderr.write(`uplink-agent: unexpected failure: ${err instanceof Error ? (err.stack ?? message) : message}\n`);
  return ExitCode.FAILURE;
}

async function main(argv: string[]): Promise<number> {
  let shutdown: AbortController | undefined;
  const cli: Cli = {
    config: (options) => parseConfig(settingsFrom(options)),
    logger: createLogger,
    shutdownSignal: () => {
      if (shutdown === undefined) {
        const controller = new AbortController();
        const onSignal = (signal: NodeJS.Signals) => {
          // A second signal means the operator will not wait for a clean close.
          if (controller.signal.aborted) process.exit(ExitCode.FAILURE);
          controller.abort(signal);
        };
        process.on("SIGTERM", onSignal);
        process.on("SIGINT", onSignal);
        shutdown = controller;
      }
      return shutdown.signal;
    },
    print: (line) => process.stdout.write(`${printable(line)}\n`),
  };
  const program = new Command("uplink-agent")
    .description("Uplink agent: answers a hub's live questions about this host")
    .version(AGENT_VERSION)
    .exitOverride()
    .showHelpAfterError();
  registerEnroll(program, cli);
  registerRun(program, cli);
  registerService(program, cli);
  // ── Local SQL tools: `uplink-agent query "<sql>"` and `uplink-agent tables`, from the SQL engine ──
  registerQuery(program);
  registerTables(program);
  // ───────────────────────────────────────────────────────────────────────────────────────────────────

  try {
    await program.parseAsync(argv);
    // The local SQL tools report their own failures through process.exitCode rather than by throwing.
    return typeof process.exitCode === "number" ? process.exitCode : ExitCode.OK;
  } catch (err) {
    return exitCodeFor(err);
  }
}

// Not a top-level await: the packaged single executable runs this module as CommonJS, which has none.
void main(process.argv).then((code) => process.exit(code));
