import type { Command } from "commander";
import type { Schemas } from "../client.js";
import { UsageError, type CliContext } from "../context.js";
import { printable, renderTable } from "../format.js";

/** What a destination's delivery looks like in one cell: caught up, or failing and why. */
function stateText(d: Schemas["DestinationView"]): string {
  return d.lastError === null ? "ok" : `failing: ${d.lastError}`;
}

/** `uplink destinations [list|create|delete]`: where schedule results and policy changes are pushed. */
export function registerDestinations(program: Command, context: () => CliContext): void {
  const destinations = program.command("destinations").description("destinations of schedule results and policy changes (admin)");

  destinations
    .command("list", { isDefault: true })
    .description("list destinations (never their secrets)")
    .action(async () => {
      const { client, json, out } = context();
      const { data } = await client.listDestinations();
      if (json) return out(JSON.stringify(data));
      out(
        renderTable(
          ["ID", "KIND", "TARGET", "DELIVERED", "STATE"],
          data.destinations.map((d) => [d.id, d.kind, d.url ?? d.path ?? "", String(d.deliveredSeq), stateText(d)]),
        ).trimEnd(),
      );
    });

  destinations
    .command("create")
    .description("add a webhook (--url and --secret, or UPLINK_DESTINATION_SECRET) or a file (--path)")
    .option("--url <url>", "webhook: http(s) URL each event is POSTed to")
    .option("--secret <secret>", "webhook: HMAC key of Uplink-Signature (env UPLINK_DESTINATION_SECRET keeps it out of the process list)")
    .option("--path <path>", "file: absolute path of the NDJSON file on the hub")
    .action(async (opts: { url?: string; secret?: string; path?: string }) => {
      const { client, json, out } = context();
      const secret = opts.secret ?? process.env.UPLINK_DESTINATION_SECRET;
      if ((opts.url === undefined) === (opts.path === undefined)) throw new UsageError("give either --url (a webhook) or --path (a file)");
      if (opts.url !== undefined && secret === undefined) throw new UsageError("a webhook needs --secret or UPLINK_DESTINATION_SECRET");
      const body: Schemas["DestinationRequest"] = opts.url !== undefined ? { kind: "webhook", url: opts.url, secret: secret! } : { kind: "file", path: opts.path! };
      const { data } = await client.createDestination(body);
      if (json) return out(JSON.stringify(data));
      out(`${data.id} ${data.kind} ${printable(data.url ?? data.path ?? "")}${data.secretFingerprint === null ? "" : ` secret ${data.secretFingerprint}`}`);
    });

  destinations
    .command("delete <id>")
    .description("delete a destination: its delivery stops at once")
    .action(async (id: string) => {
      const { client, json, out } = context();
      await client.deleteDestination(id);
      out(json ? JSON.stringify({ id, deleted: true }) : `deleted ${id}`);
    });
}
