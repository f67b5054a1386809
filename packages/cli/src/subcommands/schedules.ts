import type { Command } from "commander";
import type { Schemas } from "../client.js";
import type { CliContext } from "../context.js";
import { UsageError } from "../context.js";
import { cellText, printable, renderTable } from "../format.js";
import { collect, targetsOf } from "../targets.js";

type Schedule = Schemas["ScheduleView"];
type Policy = Schemas["PolicyView"];

/** The options `create` and `update` share: what a schedule (or a policy) is made of. */
interface DefinitionOptions {
  name?: string;
  query?: string;
  interval?: string;
  collector?: string;
  timeout?: string;
  agent: string[];
  label: string[];
  all?: boolean;
  mode?: string;
  enable?: boolean;
  disable?: boolean;
}

function definitionOptions(command: Command, withMode: boolean): Command {
  command
    .option("--name <name>", "unique name")
    .option("--query <sql>", "the read-only SQL query")
    .option("--interval <duration>", "how often it runs on each agent: 30s, 5m, 1h (at least 1s)")
    .option("--collector <name>", "collector (default host)")
    .option("--timeout <ms>", "deadline of each run, ms (default: the hub's)")
    .option("--agent <id>", "target this agent (repeatable)", collect, [] as string[])
    .option("--label <k=v>", "target agents with this label (repeatable; all must match)", collect, [] as string[])
    .option("--all", "target every agent")
    .option("--enable", "run it")
    .option("--disable", "keep it, but do not run it");
  if (withMode) command.option("--mode <mode>", "snapshot (store the rows) or differential (store rows added and removed)");
  return command;
}

/** The body fields the options set (only those given: an update changes just these). */
function definitionOf(opts: DefinitionOptions): Record<string, unknown> {
  if (opts.enable && opts.disable) throw new UsageError("--enable and --disable contradict each other");
  const timeout = opts.timeout === undefined ? undefined : Number(opts.timeout);
  if (timeout !== undefined && !Number.isInteger(timeout)) throw new UsageError(`--timeout takes milliseconds, got "${opts.timeout}"`);
  const targets = targetsOf(opts);
  return {
    ...(opts.name !== undefined ? { name: opts.name } : {}),
    ...(opts.query !== undefined ? { query: opts.query } : {}),
    ...(opts.interval !== undefined ? { interval: opts.interval } : {}),
    ...(opts.collector !== undefined ? { collector: opts.collector } : {}),
    ...(timeout !== undefined ? { timeoutMs: timeout } : {}),
    ...(targets !== undefined ? { targets } : {}),
    ...(opts.mode !== undefined ? { mode: opts.mode } : {}),
    ...(opts.enable ? { enabled: true } : opts.disable ? { enabled: false } : {}),
  };
}

function required(body: Record<string, unknown>, verb: string): void {
  for (const [key, flag] of [["name", "--name"], ["query", "--query"], ["interval", "--interval"], ["targets", "--agent, --label or --all"]] as const) {
    if (body[key] === undefined) throw new UsageError(`${verb} needs ${flag}`);
  }
}

const targetsText = (t: Schedule["targets"]): string =>
  [t.all ? "all" : "", ...(t.agentIds ?? []), ...Object.entries(t.labels ?? {}).map(([k, v]) => `${k}=${v}`)].filter(Boolean).join(",");
const intervalText = (ms: number): string => (ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : ms % 60_000 === 0 ? `${ms / 60_000}m` : ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);
const oneLine = (sql: string): string => sql.replace(/\s+/g, " ").slice(0, 60);

function showDefinition(s: Schedule | Policy, extra: [string, string][]): string {
  const rows: [string, string][] = [
    ["id", s.id],
    ["name", s.name],
    ["enabled", String(s.enabled)],
    ["interval", intervalText(s.intervalMs)],
    ["targets", targetsText(s.targets)],
    ["collector", s.collector],
    ["timeout", s.timeoutMs === null ? "default" : `${s.timeoutMs} ms`],
    ...extra,
    ["query", s.query],
    ["updated", s.updatedAt],
  ];
  return rows.map(([k, v]) => `${k.padEnd(10)} ${printable(v)}`).join("\n");
}

/** `uplink schedules [list|show|create|update|delete|results]`. */
export function registerSchedules(program: Command, context: () => CliContext): void {
  const schedules = program.command("schedules").description("scheduled queries: run on their targets at an interval, each run stored");
  const table = (list: Schedule[]) =>
    renderTable(
      ["ID", "NAME", "MODE", "INTERVAL", "ENABLED", "TARGETS", "QUERY"],
      list.map((s) => [s.id, s.name, s.mode, intervalText(s.intervalMs), s.enabled ? "yes" : "no", targetsText(s.targets), oneLine(s.query)]),
    ).trimEnd();

  schedules
    .command("list", { isDefault: true })
    .description("every scheduled query")
    .action(async () => {
      const { client, json, out } = context();
      const { data } = await client.listSchedules();
      out(json ? JSON.stringify(data) : table(data.schedules));
    });
  schedules
    .command("show <id>")
    .description("one scheduled query")
    .action(async (id: string) => {
      const { client, json, out } = context();
      const { data } = await client.getSchedule(id);
      out(json ? JSON.stringify(data) : showDefinition(data, [["mode", data.mode]]));
    });
  definitionOptions(schedules.command("create").description("create a scheduled query"), true).action(async (opts: DefinitionOptions) => {
    const { client, json, out } = context();
    const body = definitionOf(opts);
    required(body, "schedules create");
    const { data } = await client.createSchedule(body as Schemas["ScheduleRequest"]);
    out(json ? JSON.stringify(data) : `created ${data.id}`);
  });
  definitionOptions(schedules.command("update <id>").description("change a scheduled query (the options given); applies at its next run"), true).action(async (id: string, opts: DefinitionOptions) => {
    const { client, json, out } = context();
    const { data } = await client.updateSchedule(id, definitionOf(opts) as Schemas["SchedulePatch"]);
    out(json ? JSON.stringify(data) : `updated ${data.id}`);
  });
  schedules
    .command("delete <id>")
    .description("delete a scheduled query: no run of it starts from now on")
    .action(async (id: string) => {
      const { client, json, out } = context();
      await client.deleteSchedule(id);
      out(json ? JSON.stringify({ deleted: id }) : `deleted ${id}`);
    });
  schedules
    .command("results <id>")
    .description("the stored runs of a scheduled query, newest first")
    .option("--agent <id>", "only runs on this agent")
    .option("--limit <n>", "runs (default 50, at most 500)")
    .option("--before <seq>", "runs older than this seq (paging)")
    .action(async (id: string, opts: { agent?: string; limit?: string; before?: string }) => {
      const { client, json, out } = context();
      // Sent as typed; the hub answers 400 for a limit or a cursor that is not a number in range.
      const { data } = await client.listScheduleResults(id, {
        ...(opts.agent ? { agentId: opts.agent } : {}),
        ...(opts.limit ? { limit: Number(opts.limit) } : {}),
        ...(opts.before ? { before: Number(opts.before) } : {}),
      });
      if (json) return out(JSON.stringify(data));
      const rowsText = (rows: Record<string, unknown>[] | null) => (rows ?? []).map((r) => Object.values(r).map(cellText).join("|")).join("; ");
      const text = renderTable(
        ["SEQ", "TIME", "AGENT", "STATUS", "SNAPSHOT", "ADDED", "REMOVED", "ROWS"],
        data.results.map((r) => [
          String(r.seq),
          r.createdAt,
          r.agentId,
          r.error ? `${r.status}:${r.error.code}` : r.status,
          r.snapshot ? "yes" : "",
          r.added === null ? "" : `${r.added.length} ${rowsText(r.added)}`.slice(0, 60),
          r.removed === null ? "" : `${r.removed.length} ${rowsText(r.removed)}`.slice(0, 60),
          r.rows === null ? "" : `${r.rows.length} ${rowsText(r.rows)}`.slice(0, 60),
        ]),
      );
      out(`${text}${data.nextBefore === null ? "" : `more: --before ${data.nextBefore}`}`.trimEnd());
    });
}

/** `uplink policies [list|show|create|update|delete]`. */
export function registerPolicies(program: Command, context: () => CliContext): void {
  const policies = program.command("policies").description("policies: a query that returns rows on a host that passes, checked at an interval");
  policies
    .command("list", { isDefault: true })
    .description("every policy with its hosts per state")
    .action(async () => {
      const { client, json, out } = context();
      const { data } = await client.listPolicies();
      if (json) return out(JSON.stringify(data));
      out(
        renderTable(
          ["ID", "NAME", "INTERVAL", "ENABLED", "PASS", "FAIL", "UNKNOWN", "QUERY"],
          data.policies.map((p) => [p.id, p.name, intervalText(p.intervalMs), p.enabled ? "yes" : "no", String(p.counts.pass), String(p.counts.fail), String(p.counts.unknown), oneLine(p.query)]),
        ).trimEnd(),
      );
    });
  policies
    .command("show <id>")
    .description("one policy: its hosts per state and the failing hosts with their reasons")
    .action(async (id: string) => {
      const { client, json, out } = context();
      const { data } = await client.getPolicy(id);
      if (json) return out(JSON.stringify(data));
      const counts = `${data.counts.pass} pass · ${data.counts.fail} fail · ${data.counts.unknown} unknown`;
      const failing = data.failing.length === 0 ? "" : `\n\n${renderTable(["FAILING AGENT", "SINCE", "REASON"], data.failing.map((h) => [h.agentId, h.since, h.reason ?? ""])).trimEnd()}`;
      out(`${showDefinition(data, [["hosts", counts]])}${failing}`);
    });
  definitionOptions(policies.command("create").description("create a policy"), false).action(async (opts: DefinitionOptions) => {
    const { client, json, out } = context();
    const body = definitionOf(opts);
    required(body, "policies create");
    const { data } = await client.createPolicy(body as Schemas["PolicyRequest"]);
    out(json ? JSON.stringify(data) : `created ${data.id}`);
  });
  definitionOptions(policies.command("update <id>").description("change a policy (the options given); applies at its next check"), false).action(async (id: string, opts: DefinitionOptions) => {
    const { client, json, out } = context();
    const { data } = await client.updatePolicy(id, definitionOf(opts) as Schemas["PolicyPatch"]);
    out(json ? JSON.stringify(data) : `updated ${data.id}`);
  });
  policies
    .command("delete <id>")
    .description("delete a policy with its host states")
    .action(async (id: string) => {
      const { client, json, out } = context();
      await client.deletePolicy(id);
      out(json ? JSON.stringify({ deleted: id }) : `deleted ${id}`);
    });
}
