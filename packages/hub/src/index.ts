export { buildHub, type Hub, type HubDeps } from "./hub.js";
export { parseHubConfig, HubConfigSchema, HUB_SETTINGS, ConfigError, type HubConfig } from "./config.js";
export { createLogger, type Logger } from "./logger.js";
export { SqliteStore } from "./store/sqlite-store.js";
export type * from "./store/store.js";
export { createToken } from "./security/tokens.js";
export * from "./errors.js";
