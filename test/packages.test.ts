import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { makeTestCerts } from "./fixtures/certs.js";
import { createTokenOnDisk, useHubs, type HubProcess } from "./fixtures/hub-process.js";
import { ensurePackages, PACKAGES_DIR, type Packages } from "./fixtures/packages.js";
import { logTail, ManagedProcess, runToCompletion, testFailed, uplinkHub, type CliResult } from "./fixtures/process.js";

// One build of the packages for the whole file (and the whole run: package.mjs --if-stale).
let pkgs: Packages;
beforeAll(async () => {
  pkgs = await ensurePackages();
}, 600_000);

const hubs = useHubs();
const daemons: ManagedProcess[] = [];
afterEach(async (ctx) => {
  if (testFailed(ctx)) for (const d of daemons) console.error(logTail(d));
  for (const d of daemons.splice(0)) await d.stop("SIGTERM");
});

/** Root with dpkg: the .deb tests change this machine's package database and undo it. */
function dpkg(...args: string[]): string {
  return execFileSync("dpkg", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}
function purgeAgentPackage(): void {
  execFileSync("dpkg", ["--purge", "uplink-agent"], { stdio: "ignore" });
}
const DEB_PATHS = ["/usr/bin/uplink-agent", "/lib/systemd/system/uplink-agent.service", "/etc/default/uplink-agent", "/var/lib/uplink-agent", "/usr/share/doc/uplink-agent"];

/** A packaged daemon: `exe run --state FILE` with exactly `env`, its JSON lines kept. */
function startDaemon(exe: string, state: string, env: NodeJS.ProcessEnv, cwd: string): ManagedProcess {
  const d = new ManagedProcess("uplink-agent (packaged)", exe, ["run", "--state", state], env, { direct: true, cwd });
  daemons.push(d);
  return d;
}
const connected = (d: ManagedProcess) => d.waitForLog((l) => l.to === "open", 20_000);

/** Asks the agent a question through the hub's REST API and returns the rows. */
async function askHostname(hub: HubProcess, agentId: string): Promise<unknown[][]> {
  const res = await hub.api.query(agentId, { query: "select hostname, (select count(*) from processes) as n from system_info", timeoutMs: 20_000 });
  expect(res.status, res.text).toBe(200);
  return res.body.result.rows as unknown[][];
}

/** `curl -fsSL HUB/install.sh | sh -s -- ARGS` with the token in the environment, as the README says. */
function installSh(hub: HubProcess, args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const quoted = args.map((a) => `'${a.replace(/'/g, `'"'"'`)}'`).join(" ");
  return runToCompletion("/bin/sh", ["-c", `curl -fsSL ${hub.url}/install.sh | sh -s -- ${quoted}`], { env, timeoutMs: 120_000, label: `install.sh ${args.join(" ")}` });
}
const INSTALLED = /^uplink-agent \S+ installed \((deb|tarball), (\S+)\), (enrolled as|kept identity) (agt_\w+) with \S+; no systemd here: run it with '(\S+) run --state (\S+)'$/;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("the agent tarball", () => {
  it("runs with no Node and no workspace: enrolls, connects, answers through the hub, stops on SIGTERM", async () => {
    const hub = await hubs.start();
    const dir = await hubs.tempDir("uplink-pkg-tar-");
    execFileSync("tar", ["-xzf", pkgs.agentTarball, "-C", dir]);
    const top = join(dir, `uplink-agent-${pkgs.version}-linux-${process.arch}`);
    expect(readdirSync(top).sort()).toEqual(["README.md", "uplink-agent", "uplink-agent.default", "uplink-agent.service"]);
    const exe = join(top, "uplink-agent");
    // An empty PATH and nothing else but a private TMPDIR (where the native addon is unpacked and removed).
    const emptyBin = join(dir, "bin");
    const tmp = join(dir, "tmp");
    mkdirSync(emptyBin);
    mkdirSync(tmp);
    const env = { PATH: emptyBin, HOME: dir, TMPDIR: tmp };
    const state = join(dir, "state.json");

    const token = await hub.api.createToken("enroll");
    const enrolled = await runToCompletion(exe, ["enroll", "--hub", hub.url, "--state", state, "--label", "pkg=tarball"], {
      exactEnv: { ...env, UPLINK_ENROLL_TOKEN: token },
      cwd: dir,
    });
    expect(enrolled.code, enrolled.stderr).toBe(0);
    const agentId = enrolled.stdout.trim();
    expect(agentId).toMatch(/^agt_/);
    expect(statSync(state).mode & 0o777).toBe(0o600);

    const daemon = startDaemon(exe, state, env, dir);
    await connected(daemon);
    const rows = await askHostname(hub, agentId);
    expect(rows).toHaveLength(1);
    expect(Number(rows[0]![1])).toBeGreaterThan(0);
    expect((await hub.api.agent(agentId)).body.agentVersion).toBe(pkgs.version);

    const exit = await daemon.stop("SIGTERM");
    expect(exit).toEqual({ code: 0, signal: null });
    expect(daemon.logsMatching("agent stopped")).toHaveLength(1);
    expect(readdirSync(tmp)).toEqual([]);
  });
});

describe("the .deb", () => {
  afterEach(() => purgeAgentPackage());

  it("installs its files with their modes and a unit systemd accepts, keeps state on upgrade and removal, purges clean", () => {
    purgeAgentPackage();
    dpkg("-i", pkgs.deb);
    expect(statSync("/usr/bin/uplink-agent").mode & 0o7777).toBe(0o755);
    expect(statSync("/lib/systemd/system/uplink-agent.service").mode & 0o7777).toBe(0o644);
    expect(statSync("/etc/default/uplink-agent").mode & 0o7777).toBe(0o644);
    expect(statSync("/var/lib/uplink-agent").mode & 0o7777).toBe(0o700);
    const unit = readFileSync("/lib/systemd/system/uplink-agent.service", "utf8");
    expect(unit).toContain("ExecStart=/usr/bin/uplink-agent run --state /var/lib/uplink-agent/state.json");
    expect(unit).toContain("RestartPreventExitStatus=2 3");
    expect(unit).toContain("EnvironmentFile=-/etc/default/uplink-agent");
    expect(unit).toContain("NoNewPrivileges=yes");
    if (existsSync("/usr/bin/systemd-analyze")) {
      // Throws (failing the test) on any complaint about the unit.
      execFileSync("systemd-analyze", ["verify", "/lib/systemd/system/uplink-agent.service"], { stdio: "pipe" });
    }
    expect(execFileSync("/usr/bin/uplink-agent", ["--version"], { encoding: "utf8", env: { PATH: "/nonexistent" } }).trim()).toBe(pkgs.version);

    // Upgrade in place (the same version again goes through the same scripts): the state stays.
    writeFileSync("/var/lib/uplink-agent/state.json", '{"kept":true}\n', { mode: 0o600 });
    dpkg("-i", pkgs.deb);
    expect(readFileSync("/var/lib/uplink-agent/state.json", "utf8")).toContain("kept");
    // Removal keeps the identity and the settings; purge takes everything.
    dpkg("-r", "uplink-agent");
    expect(existsSync("/usr/bin/uplink-agent")).toBe(false);
    expect(existsSync("/lib/systemd/system/uplink-agent.service")).toBe(false);
    expect(existsSync("/var/lib/uplink-agent/state.json")).toBe(true);
    dpkg("--purge", "uplink-agent");
    for (const path of DEB_PATHS) expect(existsSync(path), path).toBe(false);
    expect(() => dpkg("-s", "uplink-agent")).toThrow();
  });
});

describe("install.sh served by the hub", () => {
  it("installs into a prefix: enrolled, running, answering; a second run upgrades and keeps the identity", async () => {
    const hub = await hubs.start();
    const prefix = join(await hubs.tempDir("uplink-pkg-prefix-"), "root");
    const token = await hub.api.createToken("enroll");
    const first = await installSh(hub, ["--prefix", prefix, "--label", "env=test"], { UPLINK_ENROLL_TOKEN: token });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toBe("");
    const line = first.stdout.trim();
    expect(line.split("\n")).toHaveLength(1);
    const m = INSTALLED.exec(line);
    expect(m, line).not.toBeNull();
    const [, method, bin, how, agentId, runBin, state] = m!;
    expect([method, bin, how, runBin, state]).toEqual(["tarball", join(prefix, "usr/local/bin/uplink-agent"), "enrolled as", bin, join(prefix, "var/lib/uplink-agent/state.json")]);
    expect(statSync(join(prefix, "var/lib/uplink-agent")).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(prefix, "etc/systemd/system/uplink-agent.service"), "utf8")).toContain(`ExecStart=${bin} run --state ${state}`);

    const daemon = startDaemon(bin!, state!, { PATH: "/nonexistent" }, prefix);
    await connected(daemon);
    expect(await askHostname(hub, agentId!)).toHaveLength(1);
    expect((await hub.api.agent(agentId!)).body.labels).toEqual({ env: "test" });

    const again = await installSh(hub, ["--prefix", prefix]);
    expect(again.code, again.stderr).toBe(0);
    expect(INSTALLED.exec(again.stdout.trim())?.slice(3, 5)).toEqual(["kept identity", agentId]);
    expect((await hub.api.get("/api/v1/agents")).body.agents).toHaveLength(1);
  });

  it("stops with one line naming the step and changes nothing: wrong checksum, unreachable hub, bad token", async () => {
    // A packages directory whose SHA256SUMS lies about the agent tarball.
    const bad = await hubs.tempDir("uplink-pkg-badsums-");
    const tarball = pkgs.agentTarball.slice(PACKAGES_DIR.length + 1);
    symlinkSync(pkgs.agentTarball, join(bad, tarball));
    writeFileSync(join(bad, "SHA256SUMS"), `${"0".repeat(64)}  ${tarball}\n`);
    const hub = await hubs.start({ args: ["--packages-dir", bad] });
    const token = await hub.api.createToken("enroll");
    const prefix = join(await hubs.tempDir("uplink-pkg-fail-"), "root");

    const cases: [string[], Record<string, string>, RegExp][] = [
      [["--prefix", prefix], { UPLINK_ENROLL_TOKEN: token }, /^uplink install: failed at verify: checksum mismatch for uplink-agent-\S+\.tar\.gz/],
      [["--prefix", prefix, "--hub", `http://127.0.0.1:${await freePort()}`], { UPLINK_ENROLL_TOKEN: token }, /^uplink install: failed at download: cannot fetch http:\/\/127\.0\.0\.1:\d+\/downloads\/SHA256SUMS/],
    ];
    const good = await hubs.start();
    cases.push([["--prefix", prefix, "--hub", good.url], { UPLINK_ENROLL_TOKEN: "tok_0000.wrong" }, /^uplink install: failed at enroll: enrollment refused \(401\)/]);
    for (const [args, env, expected] of cases) {
      const run = await installSh(hub, args, env);
      expect(run.code, run.stdout + run.stderr).toBe(1);
      expect(run.stdout).toBe("");
      expect(run.stderr.trimEnd().split("\n"), run.stderr).toHaveLength(1);
      expect(run.stderr).toMatch(expected);
      expect(existsSync(prefix), `${prefix} after ${run.stderr}`).toBe(false);
    }
    expect((await good.api.get("/api/v1/agents")).body.agents).toEqual([]);
  });

  it("trusts a TLS hub's CA given with --ca for the downloads and passes it on to the agent", async () => {
    const certs = makeTestCerts(await hubs.tempDir("uplink-pkg-certs-"));
    const hub = await hubs.start({ logLevel: "info", args: ["--tls-cert", certs.server.cert, "--tls-key", certs.server.key] });
    const base = `https://127.0.0.1:${hub.port}`;
    const token = await createTokenOnDisk(hub.dataDir, "enroll");
    const prefix = join(await hubs.tempDir("uplink-pkg-tls-"), "root");
    const quoted = ["--prefix", prefix, "--ca", certs.ca].map((a) => `'${a}'`).join(" ");
    const run = await runToCompletion("/bin/sh", ["-c", `curl -fsSL --cacert '${certs.ca}' ${base}/install.sh | sh -s -- ${quoted}`], {
      env: { UPLINK_ENROLL_TOKEN: token },
      timeoutMs: 120_000,
    });
    expect(run.code, run.stderr).toBe(0);
    const m = INSTALLED.exec(run.stdout.trim());
    expect(m, run.stdout).not.toBeNull();
    const caCopy = join(prefix, "etc/uplink-agent/ca.pem");
    expect(readFileSync(caCopy, "utf8")).toBe(readFileSync(certs.ca, "utf8"));
    expect(JSON.parse(readFileSync(m![6]!, "utf8"))).toMatchObject({ hub: base, ca: caCopy });
    // The agent connects over WSS trusting the CA its state file names.
    const daemon = startDaemon(m![2]!, m![6]!, { PATH: "/nonexistent" }, prefix);
    await connected(daemon);
  });

  it("installs for real through dpkg: enrolled, answering through the hub", async () => {
    purgeAgentPackage();
    try {
      const hub = await hubs.start();
      const token = await hub.api.createToken("enroll");
      const tokenFile = join(await hubs.tempDir("uplink-pkg-token-"), "token");
      writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
      const run = await installSh(hub, ["--token-file", tokenFile, "--label", "env=deb"]);
      expect(run.code, run.stderr).toBe(0);
      const m = INSTALLED.exec(run.stdout.trim());
      expect(m, run.stdout).not.toBeNull();
      const [, method, bin, , agentId, , state] = m!;
      expect([method, bin, state]).toEqual(["deb", "/usr/bin/uplink-agent", "/var/lib/uplink-agent/state.json"]);
      expect(dpkg("-s", "uplink-agent")).toMatch(/Status: install ok installed/);

      const daemon = startDaemon(bin!, state!, { PATH: "/nonexistent" }, "/");
      await connected(daemon);
      expect(await askHostname(hub, agentId!)).toHaveLength(1);
      expect((await hub.api.agent(agentId!)).body.labels).toEqual({ env: "deb" });
      expect(await daemon.stop("SIGTERM")).toEqual({ code: 0, signal: null });
    } finally {
      purgeAgentPackage();
    }
    for (const path of DEB_PATHS) expect(existsSync(path), path).toBe(false);
  });

  it("serves packages by plain names only, with content types and clear 404s", async () => {
    const hub = await hubs.start();
    const sums = await hub.api.get("/downloads/SHA256SUMS", { token: null });
    expect(sums.status).toBe(200);
    expect(sums.headers.get("content-type")).toMatch(/^text\/plain/);
    expect(sums.text).toContain(pkgs.deb.slice(PACKAGES_DIR.length + 1));
    const script = await hub.api.get("/install.sh", { token: null });
    expect(script.status).toBe(200);
    expect(script.headers.get("content-type")).toMatch(/^text\/x-shellscript/);
    expect(script.text).toContain(`HUB='${hub.url}'`);
    const missing = await hub.api.get("/downloads/uplink-agent_9.9.9_amd64.deb", { token: null });
    expect(missing.status).toBe(404);
    expect(missing.body.error.message).toMatch(/no file uplink-agent_9\.9\.9_amd64\.deb in the hub's packages directory/);
    for (const path of ["/downloads/..%2Fpackage.json", "/downloads/.build-key", "/downloads/%2Fetc%2Fpasswd"]) {
      const res = await hub.api.get(path, { token: null });
      expect(res.status, path).toBe(400);
      expect(res.body.error.code).toBe("invalid_request");
    }

    // Enroll tokens come with the install line for this hub, from REST (the request's Host) and the CLI.
    const enroll = await hub.api.post("/api/v1/tokens", { kind: "enroll", name: "hosts" });
    expect(enroll.status).toBe(201);
    expect(enroll.body.installLine).toBe(
      `export UPLINK_ENROLL_TOKEN='${enroll.body.token}'; curl -fsSL '${hub.url}/install.sh' | sudo --preserve-env=UPLINK_ENROLL_TOKEN sh -s -- --label env=prod`,
    );
    expect((await hub.api.post("/api/v1/tokens", { kind: "api", name: "ops" })).body.installLine).toBeUndefined();
    const cli = await uplinkHub(["token", "create", "--kind", "enroll", "--name", "cli", "--data-dir", hub.dataDir, "--public-url", "https://hub.example:7443/"]);
    expect(cli.code, cli.stderr).toBe(0);
    const [, , line, token] = cli.stdout.trimEnd().split("\n");
    expect(line).toBe(`  export UPLINK_ENROLL_TOKEN='${token}'; curl -fsSL 'https://hub.example:7443/install.sh' | sudo --preserve-env=UPLINK_ENROLL_TOKEN sh -s -- --label env=prod`);
  });
});

describe("the operator CLI", () => {
  it("installs alone from its packed tarball with npm and lists agents; the single executable does too", async () => {
    const hub = await hubs.start();
    const { agentId } = await hub.api.enroll("cli-pkg-host");
    const dir = await hubs.tempDir("uplink-pkg-cli-");
    const npm = await runToCompletion("npm", ["install", "-g", "--prefix", join(dir, "npm"), "--offline", "--no-audit", "--no-fund", pkgs.cliNpm], { timeoutMs: 120_000 });
    expect(npm.code, npm.stderr).toBe(0);
    const args = ["--hub", hub.url, "--token", hub.adminToken, "agents"];
    const viaNpm = await runToCompletion(join(dir, "npm", "bin", "uplink"), args, { cwd: dir });
    expect(viaNpm.code, viaNpm.stderr).toBe(0);
    expect(viaNpm.stdout).toContain(agentId);
    expect(viaNpm.stdout).toContain("cli-pkg-host");

    execFileSync("tar", ["-xzf", pkgs.cliTarball, "-C", dir]);
    const exe = join(dir, `uplink-${pkgs.version}-linux-${process.arch}`, "uplink");
    const viaExe = await runToCompletion(exe, ["--json", ...args], { exactEnv: { PATH: "/nonexistent" }, cwd: dir });
    expect(viaExe.code, viaExe.stderr).toBe(0);
    expect((JSON.parse(viaExe.stdout) as { agents: { id: string }[] }).agents.map((a) => a.id)).toEqual([agentId]);
  });
});
