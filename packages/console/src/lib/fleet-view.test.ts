import { describe, expect, it } from "vitest";
import { compareAgents, compareCodePoints, fleetQuery, matches } from "./fleet-view.js";

describe("fleet view", () => {
  it("puts the filter and the page in the list's query, labels in one order", () => {
    expect(fleetQuery({ status: "", labels: {} })).toBe("");
    expect(fleetQuery({ status: "offline", labels: { role: "db", env: "prod" } }, { limit: 200 })).toBe("?status=offline&label=env%3Dprod&label=role%3Ddb&limit=200");
    expect(fleetQuery({ status: "", labels: {} }, { limit: 300, after: "abc" })).toBe("?limit=300&after=abc");
  });

  it("sorts as the hub does: hostname, then id, by code point (UTF-8 byte order)", () => {
    const agents = [
      { hostname: "web", id: "b" },
      { hostname: "Web", id: "z" },
      { hostname: "web", id: "a" },
      { hostname: "\u{1F600}", id: "a" },
      { hostname: "\uFF21", id: "a" },
    ];
    expect([...agents].sort(compareAgents).map((a) => `${a.hostname}/${a.id}`)).toEqual(["Web/z", "web/a", "web/b", "\uFF21/a", "\u{1F600}/a"]);
    expect(compareCodePoints("ab", "a")).toBeGreaterThan(0);
    expect(compareCodePoints("", "")).toBe(0);
  });

  it("matches an agent against a status and every label", () => {
    const agent = { status: "online", labels: { env: "prod", role: "db" } } as unknown as Parameters<typeof matches>[0];
    expect(matches(agent, { status: "", labels: {} })).toBe(true);
    expect(matches(agent, { status: "online", labels: { env: "prod" } })).toBe(true);
    expect(matches(agent, { status: "offline", labels: {} })).toBe(false);
    expect(matches(agent, { status: "", labels: { env: "dev" } })).toBe(false);
  });
});
