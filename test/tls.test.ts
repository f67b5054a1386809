import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { request } from "node:https";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentBuilt, useAgentProcesses } from "./fixtures/agent-process.js";
import { makeTestCerts, type TestCerts } from "./fixtures/certs.js";
import type { HubProcess } from "./fixtures/hub-process.js";
import { useHubs } from "./fixtures/hub-process.js";
import { waitFor } from "./fixtures/wait.js";

/** One HTTPS call to a TLS hub, trusting `ca`. */
function https(hub: HubProcess, ca: string, method: string, path: string, json?: unknown, token: string | null = hub.adminToken): Promise<{ status: number; body: any }> {
  const body = json === undefined ? undefined : JSON.stringify(json);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port: hub.port, method, path, ca: readFileSync(ca), agent: false, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { "content-type": "application/json" } : {}) } },
      (res) => {
        let text = "";
        res.setEncoding("utf8").on("data", (c: string) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

describe("TLS: the hub serves HTTPS/WSS and the agent verifies it", () => {
  const hubs = useHubs();
  const agents = useAgentProcesses();
  let certs: TestCerts;

  let certDir: string;

  beforeAll(async () => {
    if (!agentBuilt()) throw new Error("packages/agent is not built: run `pnpm build`");
    certDir = await mkdtemp(join(tmpdir(), "uplink-certs-"));
    certs = makeTestCerts(certDir);
  });
  afterAll(async () => {
    await rm(certDir, { recursive: true, force: true });
  });

  /** A hub serving `pair` over TLS; its REST client is HTTPS through {@link https}. */
  async function tlsHub(pair: { cert: string; key: string }): Promise<HubProcess & { base: string }> {
    const hub = await hubs.start({ logLevel: "info", args: ["--tls-cert", pair.cert, "--tls-key", pair.key] });
    expect(hub.logsMatching("hub listening")[0]).toMatchObject({ tls: true });
    return Object.assign(hub, { base: `https://127.0.0.1:${hub.port}` });
  }

  async function enrollToken(hub: HubProcess): Promise<string> {
    const created = await https(hub, certs.ca, "POST", "/api/v1/tokens", { kind: "enroll", name: "tls" });
    expect(created.status).toBe(201);
    return created.body.token;
  }

  it("marks the web console's session cookie Secure when the hub serves TLS", async () => {
    const hub = await tlsHub(certs.server);
    const token = (await https(hub, certs.ca, "POST", "/api/v1/tokens", { kind: "api", scope: "read", name: "tls-console" })).body.token as string;
    const setCookie = await new Promise<string | undefined>((resolve, reject) => {
      const body = JSON.stringify({ token });
      const req = request(
        { host: "127.0.0.1", port: hub.port, method: "POST", path: "/api/v1/session", ca: readFileSync(certs.ca), agent: false, headers: { "content-type": "application/json" } },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode === 201 ? res.headers["set-cookie"]?.[0] : `status ${res.statusCode}`));
        },
      );
      req.on("error", reject);
      req.end(body);
    });
    expect(setCookie).toMatch(/^uplink_session=ses_\w+\.[\w-]+; HttpOnly; SameSite=Strict; Path=\/; Max-Age=\d+; Secure$/);
  });

  it("enrolls with --ca over HTTPS, remembers the CA, connects over WSS and answers a query", async () => {
    const hub = await tlsHub(certs.server);
    const state = await agents.statePath();
    const enrolled = await agents.enroll({ hub: hub.base, token: await enrollToken(hub), state, args: ["--ca", certs.ca] });
    expect(enrolled.code, enrolled.stderr).toBe(0);
    const agentId = enrolled.stdout.trim().split("\n").at(-1)!;
    expect(JSON.parse(readFileSync(state, "utf8"))).toMatchObject({ hub: hub.base, ca: certs.ca });

    // `run` trusts the CA the state file remembers: no --ca needed.
    const agent = agents.run({ state });
    await agent.waitForLog((l) => l.msg === "hub connection open");
    await waitFor("online over WSS", async () => (await https(hub, certs.ca, "GET", `/api/v1/agents/${agentId}`)).body?.status === "online");
    const answer = await https(hub, certs.ca, "POST", `/api/v1/agents/${agentId}/query`, { query: "select 1 as one" });
    expect(answer.status).toBe(200);
    expect(answer.body.result.rows).toEqual([[1]]);

    // Plain HTTP is not served on a TLS port.
    const plain = await fetch(`http://127.0.0.1:${hub.port}/healthz`).then((r) => r.status, () => "refused");
    expect(plain).not.toBe(200);
  });

  it("refuses enrollment with one clear message and exit 1 when the certificate cannot be verified (no CA, another CA)", async () => {
    const hub = await tlsHub(certs.server);
    const token = await enrollToken(hub);
    for (const args of [[], ["--ca", certs.otherCa]]) {
      const state = await agents.statePath();
      const run = await agents.enroll({ hub: hub.base, token, state, args });
      expect(run.code).toBe(1);
      expect(run.stderr.trim()).toBe(`uplink-agent: cannot verify the hub's certificate at ${hub.base} (UNABLE_TO_VERIFY_LEAF_SIGNATURE): pass --ca FILE with the CA that signed it`);
      expect(existsSync(state)).toBe(false);
    }
  });

  it("refuses a certificate for another host and an expired one, naming the reason", async () => {
    for (const [pair, reason] of [
      [certs.wrongHost, "does not name 127.0.0.1 (ERR_TLS_CERT_ALTNAME_INVALID): use a hub address the certificate lists"],
      [certs.expired, "has expired (CERT_HAS_EXPIRED): renew it on the hub"],
    ] as const) {
      const hub = await hubs.start({ logLevel: "info", args: ["--tls-cert", pair.cert, "--tls-key", pair.key] });
      const base = `https://127.0.0.1:${hub.port}`;
      const run = await agents.enroll({ hub: base, token: "tok_x.y", state: await agents.statePath(), args: ["--ca", certs.ca] });
      expect(run.code).toBe(1);
      expect(run.stderr.trim()).toBe(`uplink-agent: the hub's certificate at ${base} ${reason}`);
    }
  });

  it("keeps `run` alive and retrying, with a warn line per attempt naming the hub and the TLS reason", async () => {
    const hub = await tlsHub(certs.server);
    const state = await agents.statePath();
    expect((await agents.enroll({ hub: hub.base, token: await enrollToken(hub), state, args: ["--ca", certs.ca] })).code).toBe(0);

    // --ca overrides the state file's CA: now the hub cannot be verified.
    const agent = agents.run({ state, args: ["--ca", certs.otherCa, "--reconnect-base-ms", "100", "--reconnect-cap-ms", "200"] });
    const message = `cannot verify the hub's certificate at ${hub.base} (UNABLE_TO_VERIFY_LEAF_SIGNATURE): pass --ca FILE with the CA that signed it`;
    await waitFor("three attempts refused", () => agent.logsMatching({ msg: message, level: 40 }).length >= 3, { timeoutMs: 10_000 });
    expect(agent.running).toBe(true);
    expect(agent.logsMatching((l) => l.level >= 50)).toEqual([]);
    expect(agent.stderr).toBe("");
    const attempts = agent.logsMatching({ msg: message }).map((l) => l.attempt);
    expect(new Set(attempts).size).toBe(attempts.length);
  });
});
