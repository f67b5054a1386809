import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { rootCertificates } from "node:tls";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { makeTestCerts, type TestCerts } from "../../../test/fixtures/certs.js";
import { ConfigError } from "./errors.js";
import { HubClient } from "./hub-client.js";
import { postJson } from "./hub-request.js";
import { describeTlsFailure, loadTrust } from "./tls-trust.js";

let dir: string;
let certs: TestCerts;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "uplink-tls-unit-"));
  certs = makeTestCerts(dir);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** An HTTPS server with `pair`'s certificate that answers every POST with 201 `{ok: true}` and upgrades WebSockets. */
async function httpsHub(pair: { cert: string; key: string }): Promise<{ url: string; server: Server; wss: WebSocketServer }> {
  const server = createServer({ cert: readFileSync(pair.cert), key: readFileSync(pair.key) }, (req, res) => {
    req.resume();
    req.on("end", () => res.writeHead(201, { "content-type": "application/json" }).end(JSON.stringify({ ok: true })));
  });
  const wss = new WebSocketServer({ server });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, server, wss };
}

const servers: Array<{ server: Server; wss: WebSocketServer }> = [];
afterEach(async () => {
  for (const { server, wss } of servers.splice(0)) {
    for (const ws of wss.clients) ws.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

async function hub(pair: { cert: string; key: string }): Promise<string> {
  const started = await httpsHub(pair);
  servers.push(started);
  return started.url;
}

describe("loadTrust", () => {
  it("keeps Node's defaults without a file, and adds the file's certificates to the system CAs", () => {
    expect(loadTrust(undefined)).toBeUndefined();
    const trust = loadTrust(certs.ca)!;
    expect(trust.slice(0, rootCertificates.length)).toEqual([...rootCertificates]);
    expect(trust.slice(rootCertificates.length)).toEqual([readFileSync(certs.ca, "utf8").trim()]);
  });

  it("names --ca / UPLINK_CA when the file is missing or holds no certificate", async () => {
    expect(() => loadTrust(join(dir, "missing.pem"))).toThrow(ConfigError);
    expect(() => loadTrust(join(dir, "missing.pem"))).toThrow(/--ca \/ UPLINK_CA: cannot read/);
    await writeFile(join(dir, "empty.pem"), "not a certificate\n");
    expect(() => loadTrust(join(dir, "empty.pem"))).toThrow(/holds no PEM certificate/);
  });
});

describe("describeTlsFailure", () => {
  const err = (code: string, message = code) => Object.assign(new Error(message), { code });

  it("explains each certificate failure in one line naming the hub, the reason and the remedy", () => {
    const url = "https://hub.example:7070";
    expect(describeTlsFailure(url, err("SELF_SIGNED_CERT_IN_CHAIN"))).toBe(
      "cannot verify the hub's certificate at https://hub.example:7070 (SELF_SIGNED_CERT_IN_CHAIN): pass --ca FILE with the CA that signed it",
    );
    expect(describeTlsFailure(url, err("UNABLE_TO_VERIFY_LEAF_SIGNATURE"))).toMatch(/\(UNABLE_TO_VERIFY_LEAF_SIGNATURE\): pass --ca FILE/);
    expect(describeTlsFailure(url, err("CERT_HAS_EXPIRED"))).toBe("the hub's certificate at https://hub.example:7070 has expired (CERT_HAS_EXPIRED): renew it on the hub");
    expect(describeTlsFailure(url, err("ERR_TLS_CERT_ALTNAME_INVALID"))).toMatch(/does not name hub\.example \(ERR_TLS_CERT_ALTNAME_INVALID\)/);
    expect(describeTlsFailure(url, new Error("fetch failed", { cause: err("DEPTH_ZERO_SELF_SIGNED_CERT") }))).toMatch(/DEPTH_ZERO_SELF_SIGNED_CERT/);
  });

  it("says nothing about errors that are not certificate failures", () => {
    expect(describeTlsFailure("https://h", err("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:1"))).toBeUndefined();
    expect(describeTlsFailure("https://h", new Error("socket hang up"))).toBeUndefined();
    expect(describeTlsFailure("https://h", "a string")).toBeUndefined();
  });
});

describe("postJson over HTTPS", () => {
  it("reaches a hub signed by the --ca CA, and refuses it without that CA or with another one", async () => {
    const url = await hub(certs.server);
    await expect(postJson(`${url}/x`, { a: 1 }, { ca: loadTrust(certs.ca), timeoutMs: 5_000 })).resolves.toEqual({ status: 201, body: { ok: true } });
    for (const ca of [undefined, loadTrust(certs.otherCa)]) {
      const failure = await postJson(`${url}/x`, {}, { ca, timeoutMs: 5_000 }).catch((e: unknown) => e);
      expect(describeTlsFailure(url, failure)).toBe(`cannot verify the hub's certificate at ${url} (UNABLE_TO_VERIFY_LEAF_SIGNATURE): pass --ca FILE with the CA that signed it`);
    }
  });

  it("refuses a certificate for another host and an expired one, whatever the CA", async () => {
    const ca = loadTrust(certs.ca);
    // What the operator reads, or else what postJson gave, so that an unexpected outcome names itself.
    const outcome = async (url: string) => {
      const failure = await postJson(url, {}, { ca, timeoutMs: 5_000 }).catch((e: unknown) => e);
      return describeTlsFailure(url, failure) ?? `not a certificate failure: ${failure instanceof Error ? `${(failure as NodeJS.ErrnoException).code} ${failure.message}` : JSON.stringify(failure)}`;
    };
    expect(await outcome(await hub(certs.wrongHost))).toMatch(/does not name 127\.0\.0\.1 \(ERR_TLS_CERT_ALTNAME_INVALID\)/);
    expect(await outcome(await hub(certs.expired))).toMatch(/has expired \(CERT_HAS_EXPIRED\)/);
  });
});

describe("HubClient over WSS", () => {
  function client(url: string, caFile: string | undefined, lines: Array<Record<string, unknown>>): HubClient {
    const log = pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const c = new HubClient({
      hub: url,
      agentKey: "agt_1.secret",
      identity: { agentVersion: "1.0.0", hostname: "web-1", labels: {} },
      log,
      onFrame: () => undefined,
      reconnectBaseMs: 20,
      reconnectCapMs: 40,
      ca: loadTrust(caFile),
    });
    c.start();
    return c;
  }

  async function until(predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error("condition not met in time");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  it("connects to a hub signed by the --ca CA", async () => {
    const url = await hub(certs.server);
    const c = client(url, certs.ca, []);
    await until(() => c.state === "open");
    await c.close();
  });

  it("logs one warn line per attempt naming the hub and the TLS reason, and keeps retrying", async () => {
    const url = await hub(certs.server);
    const lines: Array<Record<string, unknown>> = [];
    const c = client(url, certs.otherCa, lines);
    const warnings = () => lines.filter((l) => l.level === 40);
    await until(() => warnings().length >= 3);
    expect(c.state).not.toBe("stopped");
    for (const line of warnings()) {
      expect(line.msg).toBe(`cannot verify the hub's certificate at ${url} (UNABLE_TO_VERIFY_LEAF_SIGNATURE): pass --ca FILE with the CA that signed it`);
    }
    expect(new Set(warnings().map((l) => l.attempt)).size).toBe(warnings().length);
    await c.close();
    await expect(c.stopped()).resolves.toBeUndefined();
  });
});
