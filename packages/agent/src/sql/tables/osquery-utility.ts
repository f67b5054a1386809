import { defineTable, type TableDef } from "../table-def.js";

/**
 * `osquery_registry`: the tables this agent answers, in osquery's registry shape (so "which tables
 * exist" queries written for osquery work). A factory, because the list it describes includes itself.
 */
export function osqueryRegistryTable(tables: () => readonly TableDef[]) {
  return defineTable({
    name: "osquery_registry",
    description: "The tables this agent answers, as osquery's registry of table plugins (one row per table).",
    note: "lists Uplink's tables; no other registries (config, logger, …)",
    columns: [
      { name: "registry", type: "TEXT", description: "Registry name: table" },
      { name: "name", type: "TEXT", description: "Table name" },
      { name: "owner_uuid", type: "INTEGER", description: "0: every table is built in" },
      { name: "internal", type: "INTEGER", description: "0: every table is queryable" },
      { name: "active", type: "INTEGER", description: "1 when the table answers on this platform, else 0" },
    ],
    *rows(ctx) {
      for (const t of tables()) {
        yield { registry: "table", name: t.name, owner_uuid: 0, internal: 0, active: t.platforms === undefined || t.platforms.includes(ctx.platform) ? 1 : 0 };
      }
    },
  });
}

/** `osquery_schedule`: osquery's local schedule. Uplink schedules live on the hub, so the agent has none. */
export const osquerySchedule = defineTable({
  name: "osquery_schedule",
  description: "Queries scheduled on the agent itself: none (Uplink schedules run from the hub), so zero rows.",
  note: "always empty: schedules are the hub's (/api/v1/schedules)",
  columns: [
    { name: "name", type: "TEXT", description: "Name of the scheduled query" },
    { name: "query", type: "TEXT", description: "The query" },
    { name: "interval", type: "INTEGER", description: "Interval, seconds" },
    { name: "executions", type: "INTEGER", description: "Times executed" },
    { name: "last_executed", type: "INTEGER", description: "Last execution, Unix seconds" },
    { name: "denylisted", type: "INTEGER", description: "1 if denylisted" },
    { name: "output_size", type: "INTEGER", description: "Bytes of output" },
    { name: "wall_time", type: "INTEGER", description: "Total wall time, seconds" },
    { name: "wall_time_ms", type: "INTEGER", description: "Total wall time, ms" },
    { name: "last_wall_time_ms", type: "INTEGER", description: "Wall time of the last execution, ms" },
    { name: "user_time", type: "INTEGER", description: "Total user time, ms" },
    { name: "last_user_time", type: "INTEGER", description: "User time of the last execution, ms" },
    { name: "system_time", type: "INTEGER", description: "Total system time, ms" },
    { name: "last_system_time", type: "INTEGER", description: "System time of the last execution, ms" },
    { name: "average_memory", type: "INTEGER", description: "Average resident memory after executions, bytes" },
    { name: "last_memory", type: "INTEGER", description: "Resident memory after the last execution, bytes" },
  ],
  *rows() {
    // Deliberately empty: see the description.
  },
});

/** `osquery_events`: osquery's event publishers and subscribers. The agent runs none, so zero rows. */
export const osqueryEvents = defineTable({
  name: "osquery_events",
  description: "Event publishers and subscribers of the agent: none (it answers live queries only), so zero rows.",
  note: "always empty: the agent has no event framework",
  columns: [
    { name: "name", type: "TEXT", description: "Publisher or subscriber name" },
    { name: "publisher", type: "TEXT", description: "Publisher of a subscriber" },
    { name: "type", type: "TEXT", description: "publisher or subscriber" },
    { name: "subscriptions", type: "INTEGER", description: "Subscriptions of a publisher" },
    { name: "events", type: "INTEGER", description: "Events seen" },
    { name: "refreshes", type: "INTEGER", description: "Run-loop restarts of a publisher" },
    { name: "active", type: "INTEGER", description: "1 if active" },
  ],
  *rows() {
    // Deliberately empty: see the description.
  },
});
