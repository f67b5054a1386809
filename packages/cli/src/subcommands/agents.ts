import type { Command } from "commander";
import type { ApiClient, Schemas } from "../client.js";
import { ago, labelsText, printable, renderTable } from "../format.js";
import type { CliContext } from "../context.js";

/** What a host never reported (a protocol-1 agent may send no hello), spelled the same in every view. */
const UNKNOWN = "unknown";
const known = (value: string | number | null): string => (value === null ? UNKNOWN : String(value));

/** The reply shape an agent speaks: `current`, its legacy traits, or unknown before its first reply. */
export function shapeText(shapes: string[] | null): string {
  if (shapes === null) return UNKNOWN;
  return shapes.length === 0 ? "current" : shapes.join(",");
}

/** Lists agents, optionally filtered (the hub refuses a status it does not know). */
export async function listAgents(client: ApiClient, filter: { status?: string; label?: string[] }): Promise<Schemas["AgentView"][]> {
  const status = filter.status ? (filter.status as Schemas["AgentStatus"]) : undefined;
  return (await client.listAgents({ ...(status ? { status } : {}), ...(filter.label?.length ? { label: filter.label } : {}) })).data.agents;
}

export function registerAgents(program: Command, context: () => CliContext): void {
  program
    .command("agents")
    .description("list agents")
    .option("--status <status>", "online, offline or unresponsive")
    .option("--label <k=v>", "only agents with this label (repeatable)", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .action(async (opts: { status?: string; label: string[] }) => {
      const { client, json, out } = context();
      const agents = await listAgents(client, opts);
      if (json) return out(JSON.stringify({ agents }));
      out(
        renderTable(
          ["ID", "HOSTNAME", "STATUS", "VERSION", "PROTOCOL", "SHAPE", "LABELS", "LAST SEEN"],
          agents.map((a) => [a.id, a.hostname, a.status, known(a.agentVersion), known(a.protocol), shapeText(a.legacyShapes), labelsText(a.labels), ago(a.lastSeenAt)]),
        ).trimEnd(),
      );
    });

  program
    .command("agent <id>")
    .description("show one agent")
    .action(async (id: string) => {
      const { client, json, out } = context();
      const { data: a } = await client.getAgent(id);
      if (json) return out(JSON.stringify(a));
      const rows: [string, string][] = [
        ["id", a.id],
        ["hostname", a.hostname],
        ["status", a.status],
        ["labels", labelsText(a.labels)],
        ["version", known(a.agentVersion)],
        ["protocol", known(a.protocol)],
        ["shape", shapeText(a.legacyShapes)],
        ["platform", a.platform === null && a.arch === null ? UNKNOWN : [a.platform, a.arch].filter(Boolean).join("/")],
        ["enrolled", a.enrolledAt],
        ["connected", a.connectedAt ?? ""],
        ["last seen", `${a.lastSeenAt ?? ""} (${ago(a.lastSeenAt)})`],
        ["replica", a.replicaId ?? ""],
        ["health", a.lastHealth === null ? "" : JSON.stringify(a.lastHealth)],
      ];
      out(rows.map(([k, v]) => `${k.padEnd(10)} ${printable(v)}`).join("\n"));
    });
}
