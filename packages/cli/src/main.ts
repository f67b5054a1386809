import { Command, CommanderError } from "commander";
import { printable } from "@uplink/protocol";
import { z } from "zod";
import { ApiClient, ApiError } from "./client.js";
import { registerAgents } from "./subcommands/agents.js";
import { registerCancel } from "./subcommands/cancel.js";
import { registerHistory } from "./subcommands/history.js";
import { registerQuery } from "./subcommands/query.js";
import { registerEvents } from "./subcommands/events.js";
import { registerDestinations } from "./subcommands/destinations.js";
import { registerPolicies, registerSchedules } from "./subcommands/schedules.js";
import { UsageError, type CliContext } from "./context.js";
import { EXIT_CODES as EXIT, exitCodeOf, exitCodesHelp } from "./exit-codes.js";

const CliConfig = z.object({
  hub: z.url({ message: "--hub / UPLINK_HUB must be the hub's URL, e.g. http://127.0.0.1:7070" }),
  token: z.string().min(1, "--token / UPLINK_TOKEN is required"),
  json: z.boolean(),
});

const program = new Command("uplink")
  .description("operator client of an Uplink hub")
  .option("--hub <url>", "hub URL (env UPLINK_HUB)")
  .option("--token <token>", "API token (env UPLINK_TOKEN)")
  .option("--json", "machine-readable output")
  .addHelpText("after", exitCodesHelp())
  .showHelpAfterError()
  // Commander's own usage errors (unknown command or option, missing argument) would exit 1, the code of a
  // hub error; overriding its exit (inherited by every command registered below) maps them to EXIT.usage.
  .exitOverride();

let context: CliContext | undefined;
const getContext = (): CliContext => {
  if (context !== undefined) return context;
  const opts = program.opts<{ hub?: string; token?: string; json?: boolean }>();
  const parsed = CliConfig.safeParse({ hub: opts.hub ?? process.env.UPLINK_HUB, token: opts.token ?? process.env.UPLINK_TOKEN ?? "", json: opts.json ?? false });
  if (!parsed.success) throw new UsageError(parsed.error.issues[0]!.message);
  context = { client: new ApiClient(parsed.data.hub, parsed.data.token), json: parsed.data.json, out: (text) => process.stdout.write(`${text}\n`) };
  return context;
};

registerAgents(program, getContext);
registerQuery(program, getContext);
registerCancel(program, getContext);
registerHistory(program, getContext);
registerEvents(program, getContext);
registerDestinations(program, getContext);
registerSchedules(program, getContext);
registerPolicies(program, getContext);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage);
  if (err instanceof UsageError) {
    process.stderr.write(`uplink: ${err.message}\n`);
    process.exit(EXIT.usage);
  }
  if (err instanceof ApiError) {
    const where = err.correlationId ? ` (correlationId ${err.correlationId})` : "";
    // The message may be an agent's own words: a hostile host must not reach the operator's terminal.
    process.stderr.write(`uplink: ${printable(`${err.status > 0 ? `${err.status} ` : ""}${err.code}: ${err.message}${where}`)}\n`);
    process.exit(exitCodeOf(err.failure));
  }
  process.stderr.write(`uplink: ${printable(err instanceof Error ? err.message : String(err))}\n`);
  process.exit(EXIT.apiError);
});
