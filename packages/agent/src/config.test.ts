import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { settingOption, settingsFrom } from "./subcommands/cli.js";
import { DEFAULT_STATE_PATH, parseConfig, requireSetting, SETTINGS } from "./config.js";
import { ConfigError } from "./errors.js";

describe("parseConfig", () => {
  it("fills every default and freezes the result", () => {
    const config = parseConfig({});
    expect(config).toEqual({
      labels: {},
      state: DEFAULT_STATE_PATH,
      logLevel: "info",
      pingTimeoutMs: 75_000,
      reconnectBaseMs: 1_000,
      reconnectCapMs: 60_000,
      maxPayload: 16 * 1024 * 1024,
      queryTimeoutMs: 30_000,
      maxResultRows: 10_000,
      maxResultBytes: 4 * 1024 * 1024,
      maxWorkers: 8,
      workerMemoryMb: 256,
      unitDir: "/etc/systemd/system",
      hostRoot: "/",
      enableSecretTables: false,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it("refuses a worker memory limit too small for a worker to start, naming the setting", () => {
    expect(() => parseConfig({ workerMemoryMb: "16" })).toThrow(/--worker-memory-mb \/ UPLINK_WORKER_MEMORY_MB/);
    expect(parseConfig({ workerMemoryMb: "512", maxWorkers: "2" })).toMatchObject({ workerMemoryMb: 512, maxWorkers: 2 });
  });

  it("reads the secret-tables switch as 1/0 and refuses a relative host root", () => {
    expect(parseConfig({ enableSecretTables: "1" }).enableSecretTables).toBe(true);
    expect(parseConfig({ enableSecretTables: "0" }).enableSecretTables).toBe(false);
    expect(parseConfig({ enableSecretTables: true }).enableSecretTables).toBe(true);
    expect(() => parseConfig({ enableSecretTables: "maybe" })).toThrow("--enable-secret-tables / UPLINK_ENABLE_SECRET_TABLES");
    expect(() => parseConfig({ hostRoot: "relative/dir" })).toThrow("--host-root / UPLINK_HOST_ROOT: must be an absolute path");
  });

  it("coerces numbers given as strings and trims the hub's trailing slash", () => {
    const config = parseConfig({ hub: "https://hub.example.com:7070/", pingTimeoutMs: "200", reconnectBaseMs: "10", reconnectCapMs: "50" });
    expect(config).toMatchObject({ hub: "https://hub.example.com:7070", pingTimeoutMs: 200, reconnectBaseMs: 10, reconnectCapMs: 50 });
  });

  it("reads labels from repeated flags and from a comma-separated variable", () => {
    expect(parseConfig({ labels: ["env=prod", "role = db"] }).labels).toEqual({ env: "prod", role: "db" });
    expect(parseConfig({ labels: ["env=prod,dc=ams"] }).labels).toEqual({ env: "prod", dc: "ams" });
  });

  it("treats an empty value as unset", () => {
    expect(parseConfig({ hub: "", pingTimeoutMs: "" })).toMatchObject({ pingTimeoutMs: 75_000 });
    expect(parseConfig({ hub: "" }).hub).toBeUndefined();
  });

  it.each([
    [{ hub: "ftp://hub" }, "invalid --hub / UPLINK_HUB: must be an http(s):// URL"],
    [{ pingTimeoutMs: "soon" }, "invalid --ping-timeout-ms / UPLINK_PING_TIMEOUT_MS:"],
    [{ maxResultRows: "-1" }, "invalid --max-result-rows / UPLINK_MAX_RESULT_ROWS:"],
    [{ logLevel: "loud" }, "invalid --log-level / UPLINK_LOG_LEVEL:"],
    [{ labels: ["oops"] }, 'invalid --label / UPLINK_LABELS: "oops" is not key=value'],
    [{ user: "root\nExecStartPre=/bin/sh" }, "invalid --user / UPLINK_SERVICE_USER: must be a plain user name"],
    [{ reconnectBaseMs: "500", reconnectCapMs: "100" }, "invalid --reconnect-cap-ms / UPLINK_RECONNECT_CAP_MS: must be at least"],
  ])("names the setting of a bad value: %j", (raw, message) => {
    expect(() => parseConfig(raw)).toThrow(ConfigError);
    expect(() => parseConfig(raw)).toThrow(message);
  });
});

describe("requireSetting", () => {
  it("names a missing setting", () => {
    expect(() => requireSetting(parseConfig({}), "token")).toThrow("invalid --token / UPLINK_ENROLL_TOKEN: is required");
    expect(requireSetting(parseConfig({ token: "t" }), "token")).toBe("t");
  });
});

describe("settingOption", () => {
  it("gives every setting a UPLINK_* environment variable", () => {
    for (const { env } of Object.values(SETTINGS)) expect(env).toMatch(/^UPLINK_[A-Z_]+$/);
  });

  it("prefers the flag, falls back to the environment, and maps options to settings", async () => {
    process.env.UPLINK_STATE = "/from/env.json";
    process.env.UPLINK_LABELS = "a=1,b=2";
    try {
      const program = new Command().exitOverride();
      let raw: unknown;
      program
        .command("x")
        .addOption(settingOption("state"))
        .addOption(settingOption("labels"))
        .addOption(settingOption("logLevel"))
        .action((options: Record<string, unknown>) => {
          raw = settingsFrom(options);
        });
      await program.parseAsync(["x", "--log-level", "debug"], { from: "user" });
      expect(parseConfig(raw as never)).toMatchObject({ state: "/from/env.json", labels: { a: "1", b: "2" }, logLevel: "debug" });
      await program.parseAsync(["x", "--state", "/flag.json", "--label", "c=3", "--label", "d=4"], { from: "user" });
      expect(parseConfig(raw as never)).toMatchObject({ state: "/flag.json", labels: { c: "3", d: "4" } });
    } finally {
      delete process.env.UPLINK_STATE;
      delete process.env.UPLINK_LABELS;
    }
  });
});
