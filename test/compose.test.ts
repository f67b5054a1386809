import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { SETTINGS as AGENT_SETTINGS } from "../packages/agent/src/config.js";
import { HUB_SETTINGS } from "../packages/hub/src/config.js";

/** The cluster layout operators copy; no Docker engine runs here, so it is checked by reading it. */
const root = join(import.meta.dirname, "..");
const compose = parse(readFileSync(join(root, "docker-compose.yml"), "utf8"), { merge: true }) as {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
};

interface Service {
  image?: string;
  build?: string | { context: string };
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: string[] | Record<string, { condition: string }>;
}

const services = compose.services;
const knownVariables = new Set([...HUB_SETTINGS.map((s) => s.env), ...Object.values(AGENT_SETTINGS).map((s) => s.env)]);
const dependsOn = (s: Service) => (Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {}));

describe("docker-compose.yml", () => {
  it("has Redis, PostgreSQL, two hub replicas behind a load balancer, and two agents", () => {
    expect(Object.keys(services).sort()).toEqual(["agent1", "agent2", "bootstrap", "hub1", "hub2", "lb", "postgres", "redis"]);
  });

  it("gives every service a pinned image or a build context with a Dockerfile", () => {
    for (const [name, s] of Object.entries(services)) {
      if (s.image !== undefined) expect(s.image, name).toMatch(/^[a-z0-9./-]+:[\w.-]+$/);
      else {
        const context = typeof s.build === "string" ? s.build : s.build?.context;
        expect(context, `${name} has neither image nor build`).toBeDefined();
        expect(existsSync(join(root, context!, "Dockerfile")), `${name}: Dockerfile in ${context}`).toBe(true);
      }
    }
  });

  it("names only settings Uplink reads, and points them at services that exist", () => {
    for (const [name, s] of Object.entries(services)) {
      for (const [key, value] of Object.entries(s.environment ?? {})) {
        if (!key.startsWith("UPLINK_")) continue;
        expect(knownVariables.has(key), `${name}: ${key} is not a setting`).toBe(true);
        const host = /^\w+:\/\/(?:[^@/]*@)?([\w-]+)/.exec(String(value))?.[1];
        if (host !== undefined) expect(Object.keys(services), `${name}: ${key} → ${host}`).toContain(host);
      }
    }
    for (const hub of ["hub1", "hub2"]) {
      expect(services[hub]!.environment).toMatchObject({ UPLINK_REDIS_URL: expect.any(String), UPLINK_DATABASE_URL: expect.any(String) });
    }
  });

  it("runs scripts and mounts files that are in the repository", () => {
    for (const [name, s] of Object.entries(services)) {
      for (const arg of s.command ?? []) if (/^(deploy|packages)\//.test(arg)) expect(existsSync(join(root, arg)), `${name}: ${arg}`).toBe(true);
      for (const volume of s.volumes ?? []) {
        const source = volume.split(":")[0]!;
        if (source.startsWith(".")) expect(existsSync(join(root, source)), `${name}: ${source}`).toBe(true);
        else expect(Object.keys(compose.volumes ?? {}), `${name}: named volume ${source}`).toContain(source);
      }
      for (const dependency of dependsOn(s)) expect(Object.keys(services), `${name} depends on ${dependency}`).toContain(dependency);
    }
  });

  it("publishes the ports the servers listen on, and the load balancer reaches every hub on its port", () => {
    expect(services.redis!.ports).toContain("6379:6379");
    expect(services.postgres!.ports).toContain("5432:5432");
    const nginx = readFileSync(join(root, "deploy/nginx.conf"), "utf8");
    const listen = /listen\s+(\d+);/.exec(nginx)?.[1];
    expect(services.lb!.ports).toContain(`${listen}:${listen}`);
    const upstream = [...nginx.matchAll(/server\s+([\w-]+):(\d+);/g)].map((m) => [m[1], m[2]]);
    expect(upstream.map(([host]) => host).sort()).toEqual(["hub1", "hub2"]);
    for (const [host, port] of upstream) expect(services[host!]!.environment?.UPLINK_PORT).toBe(port);
    for (const agent of ["agent1", "agent2"]) expect(services[agent]!.environment?.UPLINK_HUB).toBe(`http://lb:${listen}`);
  });
});
