import type { Command } from "commander";
import { printable, renderTable } from "../format.js";
import type { CliContext } from "../context.js";
import { countsLine } from "./query.js";

/**
 * `uplink cancel <fanoutId>`: cancels a running fan-out (its pending targets read `cancelled`) and prints its
 * targets and counts once it ended (exit 0: the cancel did what it was asked). A fan-out that already ended
 * is the hub's 409 `fanout_finished`, an unknown id its 404, another operator's fan-out its 403 (all exit 1).
 */
export function registerCancel(program: Command, context: () => CliContext): void {
  program
    .command("cancel")
    .description("cancel a running fan-out: its targets still pending are cancelled on their agents")
    .argument("<fanoutId>", "the fan-out's id (fan_…), as `uplink query --label/--all` prints it")
    .action(async (id: string) => {
      const { client, json, out } = context();
      const { data } = await client.cancelFanout(id);
      if (json) out(JSON.stringify(data));
      else {
        const table = renderTable(
          ["AGENT", "STATUS", "MS", "ERROR"],
          data.targets.map((t) => [t.agentId, t.status, t.durationMs === null ? "" : t.durationMs.toFixed(1), t.error === null ? "" : `${t.error.code}: ${t.error.message}`]),
        );
        out(`${table}${printable(countsLine(data))}`);
      }
    });
}
