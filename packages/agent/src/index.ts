export { createAgent, type Agent, type AgentDeps, type AgentSettings } from "./agent.js";
export { HubClient, agentUrl, type AgentFrame, type HubClientOptions, type HubClientState } from "./hub-client.js";
export { CommandDispatcher, type DispatcherOptions } from "./dispatcher.js";
export type { Collector, QueryContext } from "./collectors/collector.js";
export { createHostCollector, type HostCollector, type HostCollectorOptions } from "./sql/host-collector.js";
export type { AgentInfo } from "./sql/agent-info.js";
export {
  AgentError,
  CollectorError,
  ConfigError,
  CredentialRejectedError,
  EnrollError,
  ServiceInstallError,
  StateFileError,
  toWireError,
} from "./errors.js";
export {
  DEFAULT_LOG_LEVEL,
  DEFAULT_MAX_PAYLOAD,
  DEFAULT_PING_TIMEOUT_MS,
  DEFAULT_RECONNECT_BASE_MS,
  DEFAULT_RECONNECT_CAP_MS,
  DEFAULT_STATE_PATH,
  DEFAULT_UNIT_DIR,
  SETTINGS,
  parseConfig,
  type AgentConfig,
  type RawSettings,
  type SettingKey,
} from "./config.js";
export { AgentState, readStateFile, writeStateFile, STATE_FILE_MODE } from "./state-file.js";
export { enroll, type EnrollDeps } from "./subcommands/enroll.js";
export { runAgent, type RunDeps } from "./subcommands/run.js";
export { installService, renderUnit, UNIT_NAME, type InstalledService, type UnitSpec } from "./service.js";
export { AGENT_VERSION } from "./version.js";
export { ExitCode } from "./exit-code.js";
export { WORKER_V8_FLAGS } from "./v8-flags.js";
