import { describe, expect, it } from "vitest";
import { ConfigError, DEFAULT_PORT, enrollTokenDefaults, parseHubConfig } from "./config.js";

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

  it("delivers to destinations with a 10 s timeout, retries from 1 s to 5 min, rotates files at 100 MiB keeping 5, and refuses a minimum above the maximum", () => {
    expect(parseHubConfig({}, {})).toMatchObject({
      destinationTimeoutMs: 10_000,
      destinationRetryMinMs: 1_000,
      destinationRetryMaxMs: 300_000,
      destinationFileMaxBytes: 100 * 1024 * 1024,
      destinationFileKeep: 5,
    });
    expect(parseHubConfig({ destinationFileKeep: "0" }, { UPLINK_DESTINATION_RETRY_MIN: "250ms" })).toMatchObject({ destinationFileKeep: 0, destinationRetryMinMs: 250 });
    expect(() => parseHubConfig({ destinationRetryMinMs: "10m" }, {})).toThrow(/--destination-retry-min \/ UPLINK_DESTINATION_RETRY_MIN: must not exceed --destination-retry-max/);
    expect(() => parseHubConfig({ destinationFileMaxBytes: "10" }, {})).toThrow(/--destination-file-max-bytes/);
  });

  it("bounds history by default (audit and fan-outs 30 days, events 7 days and 10,000), takes days, and 0 as no bound", () => {
    expect(parseHubConfig({}, {})).toMatchObject({
      auditRetentionMs: 30 * 86_400_000,
      auditMaxRows: 1_000_000,
      fanoutRetentionMs: 30 * 86_400_000,
      fanoutMaxTargets: 10_000_000,
      eventRetentionMs: 7 * 86_400_000,
      eventMaxRows: 10_000,
      pruneIntervalMs: 60_000,
      pruneBatchRows: 200,
    });
    const config = parseHubConfig({ auditRetentionMs: "90d", eventMaxRows: "0" }, { UPLINK_FANOUT_RETENTION: "0", UPLINK_PRUNE_INTERVAL: "5m" });
    expect(config).toMatchObject({ auditRetentionMs: 90 * 86_400_000, eventMaxRows: 0, fanoutRetentionMs: 0, pruneIntervalMs: 300_000 });
    expect(() => parseHubConfig({}, { UPLINK_AUDIT_MAX_ROWS: "-1" })).toThrow(/--audit-max-rows \/ UPLINK_AUDIT_MAX_ROWS/);
    expect(() => parseHubConfig({ eventRetentionMs: "a week" }, {})).toThrow(/--event-retention \/ UPLINK_EVENT_RETENTION: expected a duration/);
    expect(() => parseHubConfig({ pruneBatchRows: "0" }, {})).toThrow(/--prune-batch \/ UPLINK_PRUNE_BATCH/);
  });

  it("takes the admission cap from WS_MAX_CLIENTS and treats a negative value as unlimited", () => {
    expect(parseHubConfig({}, { WS_MAX_CLIENTS: "25" }).maxAgents).toBe(25);
    expect(parseHubConfig({}, { WS_MAX_CLIENTS: "-3" }).maxAgents).toBe(0);
    expect(parseHubConfig({}, { WS_MAX_CLIENTS: "" }).maxAgents).toBe(0);
  });

  it("caps deadlines at --max-query-timeout (default 60 s) and refuses a default deadline above it", () => {
    expect(parseHubConfig({}, {}).maxQueryTimeoutMs).toBe(60_000);
    expect(parseHubConfig({ maxQueryTimeoutMs: "2m", queryTimeoutMs: "90s" }, {})).toMatchObject({ maxQueryTimeoutMs: 120_000, queryTimeoutMs: 90_000 });
    expect(() => parseHubConfig({ queryTimeoutMs: "61s" }, {})).toThrow(/--query-timeout \/ UPLINK_QUERY_TIMEOUT: must not exceed --max-query-timeout/);
  });

  it("defaults enrollment tokens to 24 h and unlimited uses, and serves /metrics on 127.0.0.1:7071 unless told", () => {
    expect(parseHubConfig({}, {})).toMatchObject({ enrollTokenTtlMs: 24 * 3_600_000, enrollTokenUses: 0, metricsHost: "127.0.0.1", metricsPort: 7071 });
    expect(parseHubConfig({}, { UPLINK_ENROLL_TOKEN_TTL: "2h", UPLINK_ENROLL_TOKEN_USES: "5", UPLINK_METRICS_PORT: "off" })).toMatchObject({ enrollTokenTtlMs: 7_200_000, enrollTokenUses: 5, metricsPort: "off" });
    expect(parseHubConfig({ metricsPort: "0" }, {}).metricsPort).toBe(0);
    expect(() => parseHubConfig({ metricsPort: "on" }, {})).toThrow(/--metrics-port \/ UPLINK_METRICS_PORT/);
    expect(enrollTokenDefaults({ UPLINK_ENROLL_TOKEN_TTL: "30m", UPLINK_ENROLL_TOKEN_USES: "0" })).toEqual({ ttlMs: 1_800_000, maxUses: undefined });
    expect(() => enrollTokenDefaults({ UPLINK_ENROLL_TOKEN_USES: "-1" })).toThrow(/UPLINK_ENROLL_TOKEN_USES/);
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
