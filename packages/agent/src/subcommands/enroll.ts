import { readFileSync } from "node:fs";
import { hostname as osHostname } from "node:os";
import { resolve } from "node:path";
import { ENROLL_PATH, EnrollResponse, ErrorBody, isErrorCode, type EnrollRequest } from "@uplink/protocol";
import type { Command } from "commander";
import { requireSetting, settingName, type AgentConfig } from "../config.js";
import { ConfigError, EnrollError } from "../errors.js";
import { postJson, type JsonAnswer } from "../hub-request.js";
import { writeStateFile, type AgentState } from "../state-file.js";
import { describeTlsFailure, loadTrust } from "../tls-trust.js";
import { settingOption, type Cli } from "./cli.js";

/** How long enrollment waits for the hub before giving up. */
const ENROLL_TIMEOUT_MS = 30_000;

/** An enrollment token is one line of printable characters; a longer file is not a token file. */
const MAX_TOKEN_FILE_BYTES = 4096;

/**
 * The enrollment token: the contents of `--token-file` (trimmed) when given, else `--token` /
 * `UPLINK_ENROLL_TOKEN`. A file or the variable keeps the token out of `ps`, which shows every flag.
 * Throws `ConfigError` naming the setting when neither is given or the file is unusable.
 */
export function enrollToken(config: AgentConfig): string {
  if (config.tokenFile === undefined) return requireSetting(config, "token");
  let text: string;
  try {
    text = readFileSync(config.tokenFile, "utf8");
  } catch (err) {
    throw new ConfigError(settingName("tokenFile"), `cannot read ${config.tokenFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const token = text.trim();
  if (token === "") throw new ConfigError(settingName("tokenFile"), `${config.tokenFile} is empty`);
  if (text.length > MAX_TOKEN_FILE_BYTES || /[\s\x00-\x1f\x7f]/.test(token)) {
    throw new ConfigError(settingName("tokenFile"), `${config.tokenFile} does not hold one token`);
  }
  return token;
}

/** What enrollment needs besides its settings; tests may inject the request. */
export interface EnrollDeps {
  postJson?: typeof postJson;
}

/**
 * Enrolls this host: `POST {hub}/api/v1/enroll` with `{token, hostname, labels}`, expecting 201
 * `{agentId, agentKey}`, then writes the state file (atomically, mode 0600). Returns the stored state.
 * An `https://` hub is verified against the system CAs plus `--ca FILE`; the CA file's absolute path is
 * kept in the state file so that `run` trusts the same CA.
 * Throws `ConfigError` when `--hub` or the token (`--token`, `--token-file`) is missing or the CA file is unusable, `EnrollError`
 * carrying the hub's message when the hub refuses, cannot be reached or cannot be verified, and
 * `StateFileError` when the state cannot be written.
 */
export async function enroll(config: AgentConfig, deps: EnrollDeps = {}): Promise<AgentState> {
  const hub = requireSetting(config, "hub");
  const token = enrollToken(config);
  const caFile = config.ca === undefined ? undefined : resolve(config.ca);
  const ca = loadTrust(caFile);
  let response: JsonAnswer;
  try {
    const request: EnrollRequest = { token, hostname: config.hostname ?? osHostname(), labels: config.labels };
    response = await (deps.postJson ?? postJson)(`${hub}${ENROLL_PATH}`, request, { ca, timeoutMs: ENROLL_TIMEOUT_MS });
  } catch (err) {
    const tls = describeTlsFailure(hub, err);
    if (tls !== undefined) throw new EnrollError("internal", tls, { cause: err });
    throw new EnrollError("internal", `cannot reach the hub at ${hub}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const { body } = response;
  if (response.status !== 201) {
    const error = ErrorBody.safeParse(body);
    if (!error.success) throw new EnrollError("internal", `the hub answered ${response.status} without an error body`);
    const code = isErrorCode(error.data.error.code) ? error.data.error.code : "internal";
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
    ...(caFile !== undefined ? { ca: caFile } : {}),
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
    .addOption(settingOption("tokenFile"))
    .addOption(settingOption("labels"))
    .addOption(settingOption("state"))
    .addOption(settingOption("hostname"))
    .addOption(settingOption("ca"))
    .action(async (options: Record<string, unknown>) => {
      const state = await enroll(cli.config(options));
      cli.print(state.agentId);
    });
}
