import { describe, expect, it } from "vitest";
import { parseHubToAgent } from "./frames.js";
import { buildCancel, buildCommand, buildWelcome } from "./hub-frames.js";

const fields = { correlationId: "c0ffee00-0000-4000-8000-000000000001", sessionId: "s1", kind: "query" as const, collector: "host", query: "select 1", timeoutMs: 5000 };

describe("hub frame builders", () => {
  it("give a protocol-2 agent the correlationId, and a protocol-1 agent none, with the session under both spellings", () => {
    expect(JSON.parse(buildCommand(2, fields))).toEqual({ type: "session_command", ...fields });
    const legacy = JSON.parse(buildCommand(1, fields));
    expect(legacy).toEqual({ type: "session_command", sessionId: "s1", session_id: "s1", kind: "query", collector: "host", query: "select 1", timeoutMs: 5000 });
    expect("correlationId" in legacy).toBe(false);
  });

  it("build frames the agent's own parser reads as what was meant", () => {
    const command = parseHubToAgent(buildCommand(2, fields));
    expect(command.ok && command.message).toMatchObject({ type: "session_command", correlationId: fields.correlationId, sessionId: "s1" });
    const cancel = parseHubToAgent(buildCancel(fields.correlationId));
    expect(cancel.ok && cancel.message).toEqual({ type: "cancel", correlationId: fields.correlationId });
    const welcome = parseHubToAgent(buildWelcome({ protocol: 2, hubId: "hub_1", agentId: "agt_1", healthIntervalMs: 15000, maxInflight: 4 }));
    expect(welcome.ok && welcome.message).toEqual({ type: "welcome", protocol: 2, hubId: "hub_1", agentId: "agt_1", healthIntervalMs: 15000, maxInflight: 4 });
  });
});
