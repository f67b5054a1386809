import { hostname as osHostname } from "node:os";
import { ENROLL_PATH, EnrollResponse, ERROR_CODES, ErrorBody, type EnrollRequest, type ErrorCode } from "@uplink/protocol";
import type { Command } from "commander";
import { requireSetting, type AgentConfig } from "../config.js";
import { EnrollError } from "../errors.js";
import { writeStateFile, type AgentState } from "../state-file.js";
import { settingOption, type Cli } from "./cli.js";

/** How long enrollment waits for the hub before giving up. */
const ENROLL_TIMEOUT_MS = 30_000;


/** What enrollment needs besides its settings; tests inject `fetch`. */
export interface EnrollDeps {
  fetch?: typeof fetch;
}

/**
 * Enrolls this host: `POST {hub}/api/v1/enroll` with `{token, hostname, labels}`, expecting 201
 * `{agentId, agentKey}`, then writes the state file (atomically, mode 0600). Returns the stored state.
 * Throws `ConfigError` when `--hub` or `--token` is missing, `EnrollError` carrying the hub's message when
 * the hub refuses or cannot be reached, and `StateFileError` when the state cannot be written.
 */
export async function enroll(config: AgentConfig, deps: EnrollDeps = {}): Promise<AgentState> {
  const hub = requireSetting(config, "hub");
  const token = requireSetting(config, "token");
  const doFetch = deps.fetch ?? fetch;
  let response: Response;
  try {
    const request: EnrollRequest = { token, hostname: config.hostname ?? osHostname(), labels: config.labels };
    response = await doFetch(`${hub}${ENROLL_PATH}`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify(request),
      signal: AbortSignal.timeout(ENROLL_TIMEOUT_MS),
    });
  } catch (err) {
    const reason = err instanceof Error && err.cause instanceof Error ? err.cause.message : String(err);
    throw new EnrollError("internal", `cannot reach the hub at ${hub}: ${reason}`, { cause: err });
  }
  const body: unknown = await response.json().catch(() => undefined);
  if (response.status !== 201) {
    const error = ErrorBody.safeParse(body);
    if (!error.success) throw new EnrollError("internal", `the hub answered ${response.status} without an error body`);
    const code = Object.hasOwn(ERROR_CODES, error.data.error.code) ? (error.data.error.code as ErrorCode) : "internal";
    throw new EnrollError(code, `enrollment refused (${response.status}): ${error.data.error.message}`);
  }
  const enrolled = EnrollResponse.safeParse(body);
  if (!enrolled.success) {
    throw new EnrollError("internal", "the hub's enrollment answer is not {agentId, agentKey: <agentId>.<secret>}");
  }
  const state: AgentState = {
    hub,
    agentId: enrolled.data.agentId,
    agentKey: enrolled.data.agentKey,
    labels: config.labels,
    ...(config.hostname !== undefined ? { hostname: config.hostname } : {}),
  };
  await writeStateFile(config.state, state);
  return state;
}

/** Wires `uplink-agent enroll`: prints the new agentId on success. */
export function registerEnroll(program: Command, cli: Cli): Command {
  return program
    .command("enroll")
    .description("enroll this host with a hub and store its key in the state file (mode 0600)")
    .addOption(settingOption("hub"))
    .addOption(settingOption("token"))
    .addOption(settingOption("labels"))
    .addOption(settingOption("state"))
    .addOption(settingOption("hostname"))
    .action(async (options: Record<string, unknown>) => {
      const state = await enroll(cli.config(options));
      cli.print(state.agentId);
    });
}
