import { randomUUID } from "node:crypto";
import { SCHEMA_SESSION_ID, type HubSchema, type QueryResult } from "@uplink/protocol";
import { AgentOfflineError, HubError, NotFoundError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { AgentRecord, Store } from "../store/store.js";
import type { CommandRouter } from "./command-router.js";
import { runCommand } from "./command-outcome.js";

/**
 * The introspection query: every table the agent answers (its osquery-style registry; eponymous virtual
 * tables are not in `pragma_table_list`) with its visible columns, in declaration order. The agent's
 * read-only guard allows `pragma_table_info`.
 */
export const SCHEMA_QUERY =
  "select r.name as tbl, c.name as col, c.type as type from osquery_registry r join pragma_table_info(r.name) c order by r.name, c.cid";

/** Orders agent versions: dotted numbers numerically, anything else as text; null (never said hello) first. */
export function compareVersions(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  const x = a.split(/[.+-]/);
  const y = b.split(/[.+-]/);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const [p, q] = [x[i] ?? "", y[i] ?? ""];
    const [m, n] = [Number(p), Number(q)];
    const order = p !== "" && q !== "" && Number.isInteger(m) && Number.isInteger(n) ? m - n : p.localeCompare(q);
    if (order !== 0) return order;
  }
  return 0;
}

/** The tables of an introspection result (rows `[table, column, type]`, ordered by table). */
export function tablesOf(result: QueryResult): HubSchema["tables"] {
  const tables: HubSchema["tables"] = [];
  for (const [table, column, type] of result.rows) {
    if (typeof table !== "string" || typeof column !== "string") continue;
    if (tables.at(-1)?.name !== table) tables.push({ name: table, columns: [] });
    tables.at(-1)!.columns.push({ name: column, type: typeof type === "string" ? type : "" });
  }
  return tables;
}

/**
 * The schema of the host tables, as the hub learned it from its agents: one introspection query (through
 * the normal command path, on the hub's own session {@link SCHEMA_SESSION_ID}) per agent version, the
 * answer kept in memory (agents of one version answer the same tables). A failed query is not kept.
 */
export class SchemaCatalog {
  readonly #byVersion = new Map<string | null, Promise<HubSchema>>();

  constructor(private readonly deps: { store: Store; router: CommandRouter; log: Logger; timeoutMs: number }) {}

  /**
   * The schema of `agentId`'s version (404 for an unknown agent; 409 when it must be asked and is
   * offline), or by default of the newest version among the online agents (409 when none is online).
   */
  async schema(agentId?: string): Promise<HubSchema> {
    const agent = agentId === undefined ? await this.#newestOnline() : await this.#agent(agentId);
    let known = this.#byVersion.get(agent.agentVersion);
    if (known === undefined) {
      if (agent.status !== "online") throw new AgentOfflineError(agent.id);
      known = this.#learn(agent);
      this.#byVersion.set(agent.agentVersion, known);
      known.catch(() => this.#byVersion.delete(agent.agentVersion));
    }
    return known;
  }

  async #agent(agentId: string): Promise<AgentRecord> {
    const agent = await this.deps.store.findAgent(agentId);
    if (agent === undefined || agent.revokedAt !== null) throw new NotFoundError(`no agent ${agentId}`);
    const [live] = await this.deps.router.presence([agent]);
    return live!;
  }

  async #newestOnline(): Promise<AgentRecord> {
    const online = (await this.deps.router.presence(await this.deps.store.listAgents({}))).filter((a) => a.status === "online");
    if (online.length === 0) throw HubError.of("agent_offline", "no agent is online to learn the schema from");
    return online.reduce((newest, a) => (compareVersions(a.agentVersion, newest.agentVersion) > 0 ? a : newest));
  }

  async #learn(agent: AgentRecord): Promise<HubSchema> {
    const correlationId = randomUUID();
    const log = this.deps.log.child({ correlationId, agentId: agent.id });
    const outcome = await runCommand(this.deps.router, agent.id, {
      correlationId,
      sessionId: SCHEMA_SESSION_ID,
      kind: "query",
      collector: "host",
      query: SCHEMA_QUERY,
      timeoutMs: this.deps.timeoutMs,
      log,
    });
    if (outcome.status !== "ok") {
      log.warn({ code: outcome.error.code, error: outcome.error.message }, "learning the schema failed");
      throw outcome.error;
    }
    const tables = tablesOf(outcome.result);
    log.info({ agentVersion: agent.agentVersion, tables: tables.length }, "schema learned");
    return { agentId: agent.id, agentVersion: agent.agentVersion, tables };
  }
}
