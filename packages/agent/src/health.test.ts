import { HealthResult } from "@uplink/protocol";
import { describe, expect, it } from "vitest";
import { buildHealth, healthStatus, type HostSample } from "./health.js";

const calm: HostSample = { load1: 0.5, cpuCount: 4, memFreeBytes: 4e9, memTotalBytes: 8e9 };

describe("healthStatus", () => {
  it("is ok on a calm host", () => {
    expect(healthStatus(calm)).toBe("ok");
  });

  it("is degraded when load1 exceeds twice the CPU count", () => {
    expect(healthStatus({ ...calm, load1: 8 })).toBe("ok");
    expect(healthStatus({ ...calm, load1: 8.01 })).toBe("degraded");
  });

  it("is degraded when less than 5 % of memory is available", () => {
    expect(healthStatus({ ...calm, memFreeBytes: 0.05 * 8e9 })).toBe("ok");
    expect(healthStatus({ ...calm, memFreeBytes: 0.04 * 8e9 })).toBe("degraded");
  });
});

describe("buildHealth", () => {
  it("reports the agent and the real host in the protocol's shape", () => {
    const result = buildHealth({ agentVersion: "1.2.3", inflight: 2, collectors: ["host"] });
    expect(HealthResult.parse(result)).toEqual(result);
    expect(result).toMatchObject({ agentVersion: "1.2.3", inflight: 2, collectors: ["host"] });
    expect(result.memTotalBytes).toBeGreaterThan(0);
  });
});
