import { describe, expect, it } from "vitest";
import { ConfigError, DEFAULT_PORT, parseHubConfig } from "./config.js";

describe("parseHubConfig", () => {
  it("fills every default when nothing is set", () => {
    const config = parseHubConfig({}, {});
    expect(config).toMatchObject({ port: DEFAULT_PORT, dataDir: "./data", maxAgents: 0, healthIntervalMs: 15_000, queryTimeoutMs: 30_000, logLevel: "info" });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it("prefers flags over environment variables", () => {
    expect(parseHubConfig({ port: "8080" }, { UPLINK_PORT: "9090" }).port).toBe(8080);
    expect(parseHubConfig({}, { UPLINK_PORT: "9090" }).port).toBe(9090);
  });

  it("reads durations with units", () => {
    const config = parseHubConfig({ healthIntervalMs: "2s", queryTimeoutMs: "1500ms", pingIntervalMs: "1m" }, {});
    expect(config).toMatchObject({ healthIntervalMs: 2000, queryTimeoutMs: 1500, pingIntervalMs: 60_000 });
  });

  it("keeps idempotency keys 24 h by default, takes hours, and refuses more than 30 days naming the setting", () => {
    expect(parseHubConfig({}, {}).idempotencyRetentionMs).toBe(24 * 3_600_000);
    expect(parseHubConfig({}, { UPLINK_IDEMPOTENCY_RETENTION: "2h" }).idempotencyRetentionMs).toBe(7_200_000);
    expect(() => parseHubConfig({ idempotencyRetentionMs: "721h" }, {})).toThrow(/--idempotency-retention \/ UPLINK_IDEMPOTENCY_RETENTION/);
  });

  it("takes the admission cap from WS_MAX_CLIENTS and treats a negative value as unlimited", () => {
    expect(parseHubConfig({}, { WS_MAX_CLIENTS: "25" }).maxAgents).toBe(25);
    expect(parseHubConfig({}, { WS_MAX_CLIENTS: "-3" }).maxAgents).toBe(0);
    expect(parseHubConfig({}, { WS_MAX_CLIENTS: "" }).maxAgents).toBe(0);
  });

  it.each([
    [{ port: "abc" }, {}, /--port \/ UPLINK_PORT/],
    [{}, { UPLINK_HEALTH_INTERVAL: "soon" }, /--health-interval \/ UPLINK_HEALTH_INTERVAL: expected a duration/],
    [{}, { WS_MAX_CLIENTS: "many" }, /--max-agents \/ WS_MAX_CLIENTS/],
    [{ logLevel: "loud" }, {}, /--log-level \/ UPLINK_LOG_LEVEL/],
    [{ queryTimeoutMs: "0" }, {}, /--query-timeout/],
    [{ tlsCert: "cert.pem" }, {}, /--tls-cert \/ UPLINK_TLS_CERT: --tls-cert and --tls-key go together/],
    [{ sendHighWaterBytes: "5000", sendHardLimitBytes: "4000" }, {}, /--send-hard-limit \/ UPLINK_SEND_HARD_LIMIT: must be larger/],
  ])("names the setting of a bad value (%o %o)", (flags, env, message) => {
    expect(() => parseHubConfig(flags, env)).toThrow(ConfigError);
    expect(() => parseHubConfig(flags, env)).toThrow(message);
  });
});
