import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseConfig } from "../config.js";
import { ConfigError, EnrollError } from "../errors.js";
import { readStateFile } from "../state-file.js";
import { enroll, enrollToken } from "./enroll.js";

/** A hub that answers every enrollment with the given status and body, remembering what it was sent. */
async function fakeHub(status: number, body: unknown): Promise<{ url: string; server: Server; requests: Array<{ url?: string; body: unknown }> }> {
  const requests: Array<{ url?: string; body: unknown }> = [];
  const server = createServer((req: IncomingMessage, res) => {
    let text = "";
    req.on("data", (chunk: Buffer) => (text += chunk.toString()));
    req.on("end", () => {
      requests.push({ url: req.url, body: JSON.parse(text) });
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, requests };
}

describe("enroll", () => {
  let dir: string;
  let server: Server | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "uplink-enroll-"));
  });
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    server = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it("posts token, hostname and labels, then stores the key with mode 0600", async () => {
    const hub = await fakeHub(201, { agentId: "agt_7", agentKey: "agt_7.s3cret" });
    server = hub.server;
    const statePath = join(dir, "state.json");
    const config = parseConfig({ hub: hub.url, token: "enr_1", labels: ["env=prod"], state: statePath, hostname: "web-9" });
    const state = await enroll(config);
    expect(hub.requests).toEqual([{ url: "/api/v1/enroll", body: { token: "enr_1", hostname: "web-9", labels: { env: "prod" } } }]);
    expect(state).toEqual({ hub: hub.url, agentId: "agt_7", agentKey: "agt_7.s3cret", labels: { env: "prod" }, hostname: "web-9" });
    await expect(readStateFile(statePath)).resolves.toEqual(state);
    expect((await stat(statePath)).mode & 0o777).toBe(0o600);
  });

  it("surfaces the hub's error message and writes nothing", async () => {
    const hub = await fakeHub(401, { error: { code: "unauthorized", message: "enrollment token expired" } });
    server = hub.server;
    const statePath = join(dir, "state.json");
    const err = await enroll(parseConfig({ hub: hub.url, token: "old", state: statePath })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EnrollError);
    expect(err).toMatchObject({ code: "unauthorized", message: "enrollment refused (401): enrollment token expired" });
    await expect(stat(statePath)).rejects.toThrow(/ENOENT/);
  });

  it("refuses an answer whose key is not <agentId>.<secret>", async () => {
    const hub = await fakeHub(201, { agentId: "agt_7", agentKey: "other.s3cret" });
    server = hub.server;
    await expect(enroll(parseConfig({ hub: hub.url, token: "t", state: join(dir, "s.json") }))).rejects.toBeInstanceOf(EnrollError);
  });

  it("names the hub it could not reach", async () => {
    const hub = await fakeHub(201, {});
    await new Promise((resolve) => hub.server.close(resolve));
    await expect(enroll(parseConfig({ hub: hub.url, token: "t", state: join(dir, "s.json") }))).rejects.toThrow(
      `cannot reach the hub at ${hub.url}`,
    );
  });

  it("requires --hub and --token", async () => {
    await expect(enroll(parseConfig({ token: "t" }))).rejects.toThrow(ConfigError);
    await expect(enroll(parseConfig({ hub: "http://127.0.0.1:1" }))).rejects.toThrow("--token / UPLINK_ENROLL_TOKEN");
  });

  describe("the token", () => {
    it("is read from --token-file, trimmed, and wins over --token", async () => {
      const file = join(dir, "token");
      await writeFile(file, "enr_file.s3cret\n");
      expect(enrollToken(parseConfig({ token: "enr_flag", tokenFile: file }))).toBe("enr_file.s3cret");
      expect(enrollToken(parseConfig({ token: "enr_flag" }))).toBe("enr_flag");
    });

    it("names the setting when the file is missing, empty or not one token", async () => {
      const empty = join(dir, "empty");
      const two = join(dir, "two");
      await writeFile(empty, "\n");
      await writeFile(two, "enr_1\nenr_2\n");
      expect(() => enrollToken(parseConfig({ tokenFile: join(dir, "absent") }))).toThrow(/--token-file \/ UPLINK_ENROLL_TOKEN_FILE: cannot read .*ENOENT/);
      expect(() => enrollToken(parseConfig({ tokenFile: empty }))).toThrow(/--token-file \/ UPLINK_ENROLL_TOKEN_FILE: .* is empty/);
      expect(() => enrollToken(parseConfig({ tokenFile: two }))).toThrow(/does not hold one token/);
      expect(() => enrollToken(parseConfig({}))).toThrow(ConfigError);
    });
  });
});
