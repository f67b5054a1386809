import { execFileSync } from "node:child_process";
import { closeSync, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { hostname, release, tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { agentBuilt, useAgentProcesses } from "./fixtures/agent-process.js";
import { useSharedHub } from "./fixtures/hub-process.js";
import { waitFor } from "./fixtures/wait.js";

// Each table is checked against facts this test reads from the host itself (files, /proc, /sys, other
// programs) or creates (a listening socket, an open file, a Python package), never against the agent's
// own parsers.

type Cell = string | number | null;

const readIfPresent = (path: string): string => (existsSync(path) ? readFileSync(path, "utf8") : "");

/** A command's stdout, or undefined when the program is not installed. */
function run(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** An IPv4 address of /proc/net/route: hex of the in-memory (network-order) bytes, printed as a little-endian word. */
const routeAddress = (hex: string): string => [6, 4, 2, 0].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(".");

describe.runIf(process.platform === "linux")("osquery's Linux tables through a real hub and agent", () => {
  const hub = useSharedHub();
  const agents = useAgentProcesses();
  const cleanups: (() => void | Promise<void>)[] = [];

  beforeAll(() => {
    if (!agentBuilt()) throw new Error("packages/agent is not built: run `pnpm build`");
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** Enrolls and starts an agent for this test (the fixture stops it afterwards) and returns a query function. */
  async function agent(): Promise<(sql: string) => Promise<Cell[][]>> {
    const state = await agents.statePath();
    const enrolled = await agents.enroll({ hub: hub().url, token: await hub().api.createToken("enroll"), state });
    expect(enrolled.code, enrolled.stderr).toBe(0);
    const id = enrolled.stdout.trim().split("\n").at(-1)!;
    agents.run({ state });
    await waitFor(`agent ${id} online`, async () => (await hub().api.agent(id)).body.status === "online");
    return async (sql) => {
      const res = await hub().api.query(id, { query: sql, timeoutMs: 20_000 });
      expect(res.status, `${sql}: ${res.text}`).toBe(200);
      expect(res.body.result.truncated, sql).toBe(false);
      return res.body.result.rows as Cell[][];
    };
  }

  it("accounts, kernel and clock: groups, user_groups, kernel_modules, system_controls, time", async () => {
    const query = await agent();

    const groups = new Map<number, string>();
    for (const line of readFileSync("/etc/group", "utf8").split("\n")) {
      const [name, , gid] = line.split(":");
      if (name && gid && /^\d+$/.test(gid) && !groups.has(Number(gid))) groups.set(Number(gid), name);
    }
    const groupRows = await query("select gid, groupname from groups order by gid");
    expect(groupRows).toEqual([...groups].sort((a, b) => a[0] - b[0]));

    // `id -G <user>` asks getgrouplist(3): the primary group plus every group of /etc/group listing the user.
    const me = userInfo();
    const gids = run("id", ["-G", me.username])!.trim().split(/\s+/).map(Number);
    const mine = await query(`select gid from user_groups where uid = ${me.uid} order by gid`);
    expect(mine.map((r) => r[0])).toEqual([...new Set(gids)].sort((a, b) => a - b));

    const modules = readIfPresent("/proc/modules").split("\n").filter((l) => l !== "").map((l) => l.split(" ")[0]);
    expect((await query("select name from kernel_modules")).map((r) => r[0])).toEqual(modules);

    expect(await query("select current_value, subsystem from system_controls where name = 'kernel.osrelease'")).toEqual([[release(), "kernel"]]);
    expect(await query("select current_value from system_controls where name = 'kernel.hostname'")).toEqual([[hostname()]]);

    const before = Math.floor(Date.now() / 1000);
    const [[unix, year, timezone]] = (await query("select unix_time, year, timezone from time")) as [[number, number, string]];
    const after = Math.ceil(Date.now() / 1000);
    // Generous margin: the assertion is about the clock being this host's, not about speed.
    expect(unix).toBeGreaterThanOrEqual(before - 60);
    expect(unix).toBeLessThanOrEqual(after + 60);
    expect(year).toBe(new Date(unix * 1000).getUTCFullYear());
    expect(timezone).toBe("UTC");
  });

  it("this process: an open socket, an open file and its memory map", async () => {
    const query = await agent();
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const port = (server.address() as { port: number }).port;
    const dir = mkdtempSync(join(tmpdir(), "uplink-open-file-"));
    const file = join(dir, "held open.txt");
    writeFileSync(file, "x");
    const fd = openSync(file, "r");
    cleanups.push(() => {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    });

    const sockets = await query(
      `select family, protocol, local_address, local_port, state from process_open_sockets where pid = ${process.pid} and local_port = ${port}`,
    );
    expect(sockets).toEqual([[2, 6, "127.0.0.1", port, "LISTEN"]]);

    expect(await query(`select fd, path from process_open_files where pid = ${process.pid} and fd = ${fd}`)).toEqual([[fd, realpathSync(file)]]);

    const exe = realpathSync(process.execPath);
    const maps = await query(`select count(*), min(pseudo) from process_memory_map where pid = ${process.pid} and path = '${exe.replaceAll("'", "''")}'`);
    expect(maps[0]![0]).toBeGreaterThan(0);
    expect(maps[0]![1]).toBe(0);
  });

  it("network files: routes, arp_cache, etc_hosts, etc_services", async () => {
    const query = await agent();

    const v4 = readIfPresent("/proc/net/route")
      .split("\n")
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length >= 11)
      .map((f) => [routeAddress(f[1]!), routeAddress(f[2]!), f[0]!]);
    const routes = await query("select destination, gateway, interface from routes where destination not like '%:%'");
    expect(routes).toEqual(v4);

    const arp = readIfPresent("/proc/net/arp").split("\n").slice(1).filter((l) => l.trim() !== "").map((l) => l.trim().split(/\s+/)[0]);
    expect((await query("select address from arp_cache")).map((r) => r[0])).toEqual(arp);

    const hosts = readIfPresent("/etc/hosts")
      .split("\n")
      .map((l) => l.trim().split(/\s+/)[0] ?? "")
      .filter((a) => a !== "" && !a.startsWith("#"));
    expect((await query("select address from etc_hosts")).map((r) => r[0])).toEqual(hosts);

    const ssh = /^ssh\s+22\/tcp/m.test(readIfPresent("/etc/services"));
    expect(await query("select port, protocol from etc_services where name = 'ssh' and protocol = 'tcp'")).toEqual(ssh ? [[22, "tcp"]] : []);
  });

  it("packages: deb_packages against dpkg-query, a Python package made here, global npm packages, rpm and docker when absent", async () => {
    const query = await agent();

    const dpkg = run("dpkg-query", ["-W", "-f", "${binary:Package}\t${Version}\t${db:Status-Status}\n"]);
    const debRows = await query("select name, arch, version from deb_packages");
    if (dpkg === undefined) {
      expect(debRows).toEqual([]);
    } else {
      // binary:Package carries ":arch" for Multi-Arch: same packages only; compare name + version + installed state.
      // Left out: the agent's own package, which test/packages.test.ts installs and purges, maybe meanwhile.
      const settled = (name: string) => name !== "uplink-agent";
      const expected = dpkg
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => l.split("\t"))
        .filter((f) => f[2] !== "not-installed")
        .map((f) => [f[0]!.split(":")[0]!, f[1]!])
        .filter(([name]) => settled(name!))
        .map(([name, version]) => `${name} ${version}`)
        .sort();
      expect(debRows.filter((r) => settled(String(r[0]))).map((r) => `${r[0]} ${r[2]}`).sort()).toEqual(expected);
    }

    const me = userInfo();
    const pyRoot = join(me.homedir, ".local", "lib", `python0.uplink-e2e-${process.pid}`);
    const site = join(pyRoot, "site-packages");
    // Remove exactly what this test creates: the first of ~/.local, ~/.local/lib and the site root that is missing.
    const created = [join(me.homedir, ".local"), join(me.homedir, ".local", "lib"), pyRoot].find((d) => !existsSync(d))!;
    mkdirSync(join(site, "uplink_e2e_probe-1.2.3.dist-info"), { recursive: true });
    cleanups.push(() => rmSync(created, { recursive: true, force: true }));
    writeFileSync(join(site, "uplink_e2e_probe-1.2.3.dist-info", "METADATA"), "Metadata-Version: 2.1\nName: uplink-e2e-probe\nVersion: 1.2.3\nSummary: made by a test\n");
    expect(await query("select uid, version, summary, directory from python_packages where name = 'uplink-e2e-probe'")).toEqual([
      [me.uid, "1.2.3", "made by a test", site],
    ]);

    const globalNpm: string[] = [];
    for (const prefix of ["/usr/local/lib", "/usr/lib"]) {
      const modules = join(prefix, "node_modules");
      for (const name of existsSync(modules) ? readdirSync(modules) : []) {
        const dirs = name.startsWith("@") ? readdirSync(join(modules, name)).map((s) => `${name}/${s}`) : [name];
        for (const d of dirs) if (existsSync(join(modules, d, "package.json"))) globalNpm.push(`${prefix} ${join(modules, d, "package.json")}`);
      }
    }
    const npmRows = await query("select directory, path from npm_packages where depth = 0 and directory in ('/usr/lib', '/usr/local/lib')");
    expect(npmRows.map((r) => `${r[0]} ${r[1]}`).sort()).toEqual(globalNpm.sort());

    if (!existsSync("/var/lib/rpm/rpmdb.sqlite")) expect(await query("select * from rpm_packages")).toEqual([]);
    if (!existsSync("/var/run/docker.sock")) expect(await query("select * from docker_containers")).toEqual([]);
  });

  it("devices and files: block_devices, pci_devices, suid_bin", async () => {
    const query = await agent();

    const disks = existsSync("/sys/block") ? readdirSync("/sys/block").map((d) => `/dev/${d}`).sort() : [];
    expect((await query("select name from block_devices where parent = '' order by name")).map((r) => r[0])).toEqual(disks);

    const slots = existsSync("/sys/bus/pci/devices") ? readdirSync("/sys/bus/pci/devices").sort() : [];
    expect((await query("select pci_slot from pci_devices order by pci_slot")).map((r) => r[0])).toEqual(slots);

    const setId: string[] = [];
    if (existsSync("/usr/sbin") && !lstatSync("/usr/sbin").isSymbolicLink()) {
      for (const name of readdirSync("/usr/sbin")) {
        try {
          // stat, not lstat: like osquery, a symlink to a set-id binary counts under its own name.
          const st = statSync(join("/usr/sbin", name));
          if (st.isFile() && (st.mode & 0o6000) !== 0) setId.push(`/usr/sbin/${name}`);
        } catch {
          // removed meanwhile
        }
      }
    }
    const suid = await query("select path from suid_bin where path like '/usr/sbin/%' and path not like '/usr/sbin/%/%'");
    expect(suid.map((r) => r[0]).sort()).toEqual(setId.sort());
  });

  it("processor, events, firewall and more apps: cpuid, hardware_events, iptables, opera_extensions, docker_container_processes", async () => {
    const query = await agent();

    const cpuinfo = readIfPresent("/proc/cpuinfo").split("\n\n")[0] ?? "";
    const field = (key: string): string | undefined => new RegExp(`^${key}\\s*:\\s*(.*)$`, "m").exec(cpuinfo)?.[1]?.trim();
    const flags = new Set((field("flags") ?? field("Features") ?? "").split(/\s+/).filter((f) => f !== ""));
    if (field("vendor_id") !== undefined) {
      expect(await query("select value from cpuid where feature = 'vendor'")).toEqual([[field("vendor_id")!]]);
      // osquery's names for three bits every x86-64 kernel reports one way or the other.
      const bits = await query("select feature, value from cpuid where feature in ('sse2', 'avx2', 'vmx') order by feature");
      expect(bits).toEqual(["avx2", "sse2", "vmx"].map((f) => [f, flags.has(f) ? "1" : "0"]));
    }
    const other = await query("select feature from cpuid where output_register is null");
    for (const [f] of other) expect(flags.has(String(f)), String(f)).toBe(true);

    expect(await query("select * from hardware_events where path <> '' or model <> ''")).toEqual([]);

    const save = ["/usr/sbin/iptables-save", "/sbin/iptables-save", "/usr/bin/iptables-save", "/bin/iptables-save"].find((p) => existsSync(p));
    let rules = 0;
    if (save !== undefined) {
      try {
        rules = execFileSync(save, [], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).split("\n").filter((l) => l.startsWith("-A ")).length;
      } catch {
        rules = 0; // not permitted: the table answers nothing either
      }
    }
    expect(await query("select count(*) from iptables where target is not null")).toEqual([[rules]]);

    const operaHomes = readIfPresent("/etc/passwd")
      .split("\n")
      .map((l) => l.split(":")[5])
      .filter((h): h is string => h !== undefined && h.startsWith("/") && existsSync(join(h, ".config/opera/Extensions")));
    if (operaHomes.length === 0) expect(await query("select * from opera_extensions")).toEqual([]);

    if (!existsSync("/var/run/docker.sock")) {
      expect(await query("select * from docker_container_processes")).toEqual([]);
      expect(await query("select c.id, p.cmdline from docker_containers c cross join docker_container_processes p using (id)")).toEqual([]);
    }
  });
});
