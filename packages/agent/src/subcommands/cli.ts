import { Option } from "commander";
import type { Logger } from "pino";
import { SETTINGS, type AgentConfig, type RawSettings, type SettingKey } from "../config.js";

/** What `main` lends every command: the one config parser, the root logger, shutdown on signals, stdout. */
export interface Cli {
  /** Parses a command's options (flags, else their environment variables) with the one config schema. */
  config(options: Record<string, unknown>): AgentConfig;
  /** The root logger, at the configured level, writing JSON lines to stdout with secrets redacted. */
  logger(config: AgentConfig): Logger;
  /**
   * Aborted on SIGTERM or SIGINT, for long-running commands that wind down and return. Signals are only
   * caught once a command asks for this; short commands keep the default (die at once).
   */
  shutdownSignal(): AbortSignal;
  /** Prints one line for the person or script that ran the command. */
  print(line: string): void;
}

/** Settings given as a bare flag; their environment variable takes 1/0 (true/false, yes/no, on/off). */
const BOOLEAN_SETTINGS: ReadonlySet<SettingKey> = new Set(["enableSecretTables"]);

/** The commander option of a setting, falling back to its `UPLINK_*` environment variable. */
export function settingOption(key: SettingKey): Option {
  const { flags, env, description } = SETTINGS[key];
  // A boolean flag's variable is read by settingsFrom instead: commander would count UPLINK_X=0 as "on".
  if (BOOLEAN_SETTINGS.has(key)) return new Option(flags, `${description} [env: ${env}=1|0]`);
  const option = new Option(flags, description).env(env);
  // Repeated flags accumulate; an environment value arrives as one (comma-separated) item.
  if (key === "labels") option.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
  return option;
}

/** Picks the settings out of a command's parsed options, keyed as the config schema expects. */
export function settingsFrom(options: Record<string, unknown>): RawSettings {
  const raw: RawSettings = {};
  for (const key of Object.keys(SETTINGS) as SettingKey[]) {
    raw[key] = options[settingOption(key).attributeName()] ?? (BOOLEAN_SETTINGS.has(key) ? process.env[SETTINGS[key].env] : undefined);
  }
  return raw;
}
