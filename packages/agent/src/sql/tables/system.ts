import { arch, cpus, hostname, release, totalmem, type as osType, uptime as osUptime } from "node:os";
import { CollectorError } from "../../errors.js";
import { defineTable, type TableContext } from "../table-def.js";
import { bootTime, readTextIfPresent } from "./proc.js";

const OS_RELEASE_PATHS = ["/etc/os-release", "/usr/lib/os-release"];

/**
 * Parses os-release(5): `KEY=value` lines where the value may be quoted with `"` or `'`, and `\`
 * escapes `"`, `\`, `$` and `` ` `` inside double quotes. Comments and malformed lines are skipped.
 */
export function parseOsRelease(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m === null) continue;
    let value = (m[2] as string).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) {
      value = value.slice(1, -1).replace(/\\([\\"$`])/g, "$1");
    } else if (value.startsWith("'") && value.endsWith("'") && value.length >= 2) {
      value = value.slice(1, -1);
    }
    fields.set(m[1] as string, value);
  }
  return fields;
}

/** The os-release fields of this host, memoised per query; undefined when no os-release file exists. */
function osRelease(ctx: TableContext): Map<string, string> | undefined {
  return ctx.memo("os-release", () => {
    for (const path of OS_RELEASE_PATHS) {
      const text = readTextIfPresent(ctx.hostPath(path));
      if (text !== undefined) return parseOsRelease(text);
    }
    return undefined;
  });
}

/** Boot time in Unix seconds: exact from /proc/stat on Linux, derived from the uptime elsewhere. */
function bootTimeS(ctx: TableContext, table: string): number {
  if (ctx.platform === "linux") return bootTime(ctx, table);
  return Math.round(Date.now() / 1000 - osUptime());
}

/** A DMI attribute of /sys/class/dmi/id (some, like serials and the UUID, are readable by root only). */
function dmi(name: string): string {
  return readTextIfPresent(`/sys/class/dmi/id/${name}`)?.trim() ?? "";
}

/** CPU facts of /proc/cpuinfo: sockets, physical cores (distinct physical id × core id), microcode. */
function cpuInfo(): { sockets: number | null; physicalCores: number | null; microcode: string } {
  const text = readTextIfPresent("/proc/cpuinfo");
  if (text === undefined) return { sockets: null, physicalCores: null, microcode: "" };
  const sockets = new Set<string>();
  const cores = new Set<string>();
  let microcode = "";
  for (const block of text.split("\n\n")) {
    const field = (key: string): string | undefined => new RegExp(`^${key}\\s*:\\s*(.*)$`, "m").exec(block)?.[1];
    const physical = field("physical id");
    const core = field("core id");
    if (physical !== undefined) sockets.add(physical);
    if (physical !== undefined && core !== undefined) cores.add(`${physical}:${core}`);
    microcode ||= field("microcode") ?? "";
  }
  return { sockets: sockets.size || null, physicalCores: cores.size || null, microcode };
}

/** uname -m, as osquery names CPU types (x86_64, aarch64), from Node's arch. */
const MACHINE: Readonly<Record<string, string>> = { x64: "x86_64", arm64: "aarch64", ia32: "i686", arm: "armv7l", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64" };

/** `system_info`: one row describing the host. */
export const systemInfo = defineTable({
  name: "system_info",
  description: "The host: name, CPU, memory and hardware identity (one row).",
  columns: [
    { name: "hostname", type: "TEXT", description: "Host name, as os.hostname() reports it" },
    { name: "uuid", type: "TEXT", description: "Hardware UUID (DMI product_uuid, readable by root), else /etc/machine-id" },
    { name: "cpu_type", type: "TEXT", description: "CPU type as uname -m names it (x86_64, aarch64, ...)" },
    { name: "cpu_subtype", type: "TEXT", description: "CPU model name" },
    { name: "cpu_brand", type: "TEXT", description: "CPU brand string (model name of the first logical CPU)" },
    { name: "cpu_physical_cores", type: "INTEGER", description: "Physical CPU cores (from /proc/cpuinfo; null when it does not say)" },
    { name: "cpu_logical_cores", type: "INTEGER", description: "Logical CPUs" },
    { name: "cpu_sockets", type: "INTEGER", description: "Processor sockets (from /proc/cpuinfo; null when it does not say)" },
    { name: "cpu_microcode", type: "TEXT", description: "Microcode version; empty when unknown" },
    { name: "physical_memory", type: "INTEGER", description: "Physical memory in bytes" },
    { name: "hardware_vendor", type: "TEXT", description: "Hardware vendor (DMI sys_vendor); empty when absent" },
    { name: "hardware_model", type: "TEXT", description: "Hardware model (DMI product_name)" },
    { name: "hardware_version", type: "TEXT", description: "Hardware version (DMI product_version)" },
    { name: "hardware_serial", type: "TEXT", description: "Serial number (DMI product_serial, readable by root)" },
    { name: "board_vendor", type: "TEXT", description: "Board vendor (DMI board_vendor)" },
    { name: "board_model", type: "TEXT", description: "Board model (DMI board_name)" },
    { name: "board_version", type: "TEXT", description: "Board version (DMI board_version)" },
    { name: "board_serial", type: "TEXT", description: "Board serial (DMI board_serial, readable by root)" },
    { name: "computer_name", type: "TEXT", description: "Friendly name: the host name" },
    { name: "local_hostname", type: "TEXT", description: "Local host name: the host name" },
    { name: "os", type: "TEXT", description: "Operating system: os-release PRETTY_NAME on Linux, else type and release", note: "uplink" },
    { name: "platform", type: "TEXT", description: "Node.js platform name (linux, darwin, win32, ...)", note: "uplink" },
    { name: "boot_time", type: "INTEGER", description: "Boot time, Unix seconds", note: "uplink" },
  ],
  *rows(ctx) {
    const cores = cpus();
    const linux = ctx.platform === "linux";
    const pretty = linux ? osRelease(ctx)?.get("PRETTY_NAME") : undefined;
    const info = linux ? cpuInfo() : { sockets: null, physicalCores: null, microcode: "" };
    const name = hostname();
    const uuid = linux ? dmi("product_uuid") || (readTextIfPresent(ctx.hostPath("/etc/machine-id"))?.trim() ?? "") : "";
    yield {
      hostname: name,
      uuid,
      cpu_type: MACHINE[arch()] ?? arch(),
      cpu_subtype: cores[0]?.model ?? "",
      cpu_brand: cores[0]?.model ?? "",
      cpu_physical_cores: info.physicalCores,
      cpu_logical_cores: cores.length,
      cpu_sockets: info.sockets,
      cpu_microcode: info.microcode,
      physical_memory: totalmem(),
      hardware_vendor: linux ? dmi("sys_vendor") : "",
      hardware_model: linux ? dmi("product_name") : "",
      hardware_version: linux ? dmi("product_version") : "",
      hardware_serial: linux ? dmi("product_serial") : "",
      board_vendor: linux ? dmi("board_vendor") : "",
      board_model: linux ? dmi("board_name") : "",
      board_version: linux ? dmi("board_version") : "",
      board_serial: linux ? dmi("board_serial") : "",
      computer_name: name,
      local_hostname: name,
      os: pretty ?? `${osType()} ${release()}`,
      platform: ctx.platform,
      boot_time: bootTimeS(ctx, "system_info"),
    };
  },
});

/** The leading integer of a version part ("04" → 4, "3-beta" → 3), null when there is none. */
const versionPart = (part: string | undefined): number | null => (part !== undefined && /^\d+/.test(part) ? Number(/^\d+/.exec(part)?.[0]) : null);

/** `os_version`: the operating system, from os-release(5) on Linux. */
export const osVersionTable = defineTable({
  name: "os_version",
  description: "The operating system's name and version (one row), from /etc/os-release on Linux.",
  columns: [
    { name: "name", type: "TEXT", description: "Distribution or product name (os-release NAME)" },
    { name: "version", type: "TEXT", description: "Version for people (os-release VERSION, e.g. 24.04 LTS (Noble Numbat))" },
    { name: "major", type: "INTEGER", description: "Major release version (of VERSION_ID)" },
    { name: "minor", type: "INTEGER", description: "Minor release version" },
    { name: "patch", type: "INTEGER", description: "Patch release version" },
    { name: "build", type: "TEXT", description: "Build or variant (os-release BUILD_ID); empty when absent" },
    { name: "platform", type: "TEXT", description: "Platform id (os-release ID, e.g. ubuntu)" },
    { name: "platform_like", type: "TEXT", description: "Related platforms (os-release ID_LIKE)" },
    { name: "codename", type: "TEXT", description: "Version codename (os-release VERSION_CODENAME)" },
    { name: "arch", type: "TEXT", description: "Architecture (uname -m)" },
    { name: "extra", type: "TEXT", description: "Extra release specification; empty on Linux" },
    { name: "install_date", type: "INTEGER", description: "Install date; null (Linux records none)", note: "always null on Linux" },
  ],
  *rows(ctx) {
    const machine = MACHINE[arch()] ?? arch();
    const f = ctx.platform === "linux" ? osRelease(ctx) : undefined;
    if (f === undefined) {
      const parts = release().split(".");
      yield { name: osType(), version: release(), major: versionPart(parts[0]), minor: versionPart(parts[1]), patch: versionPart(parts[2]), build: "", platform: ctx.platform, platform_like: "", codename: "", arch: machine, extra: "", install_date: null };
      return;
    }
    const parts = (f.get("VERSION_ID") ?? "").split(".");
    yield {
      name: f.get("NAME") ?? "",
      version: f.get("VERSION") ?? f.get("VERSION_ID") ?? "",
      major: versionPart(parts[0]),
      minor: versionPart(parts[1]),
      patch: versionPart(parts[2]),
      build: f.get("BUILD_ID") ?? "",
      platform: f.get("ID") ?? "",
      platform_like: f.get("ID_LIKE") ?? "",
      codename: f.get("VERSION_CODENAME") ?? "",
      arch: machine,
      extra: "",
      install_date: null,
    };
  },
});

/** `kernel_info`: the running kernel and how it was booted. */
export const kernelInfoTable = defineTable({
  name: "kernel_info",
  description: "The running kernel: release and boot arguments from /proc/cmdline (one row).",
  platforms: ["linux"],
  platformNote: "it reads /proc/cmdline",
  columns: [
    { name: "version", type: "TEXT", description: "Kernel release (uname -r)" },
    { name: "arguments", type: "TEXT", description: "Kernel command line without BOOT_IMAGE and root" },
    { name: "path", type: "TEXT", description: "Kernel image (BOOT_IMAGE of the command line); empty when absent" },
    { name: "device", type: "TEXT", description: "Root device (root= of the command line); empty when absent" },
  ],
  *rows() {
    const args = (readTextIfPresent("/proc/cmdline") ?? "").trim().split(/\s+/).filter((a) => a !== "");
    const take = (key: string): string => args.find((a) => a.startsWith(`${key}=`))?.slice(key.length + 1) ?? "";
    yield {
      version: release(),
      arguments: args.filter((a) => !a.startsWith("BOOT_IMAGE=") && !a.startsWith("root=")).join(" "),
      path: take("BOOT_IMAGE"),
      device: take("root"),
    };
  },
});

/** `os_release`: the distribution, from os-release(5). */
export const osReleaseTable = defineTable({
  name: "os_release",
  description: "The Linux distribution, from /etc/os-release (or /usr/lib/os-release); one row.",
  note: "uplink",
  platforms: ["linux"],
  platformNote: "it reads /etc/os-release",
  columns: [
    { name: "name", type: "TEXT", description: "NAME, e.g. Ubuntu" },
    { name: "version", type: "TEXT", description: "VERSION, e.g. 24.04 LTS (Noble Numbat)" },
    { name: "id", type: "TEXT", description: "ID, e.g. ubuntu" },
    { name: "id_like", type: "TEXT", description: "ID_LIKE, space-separated related distributions" },
    { name: "version_id", type: "TEXT", description: "VERSION_ID, e.g. 24.04" },
    { name: "version_codename", type: "TEXT", description: "VERSION_CODENAME, e.g. noble" },
    { name: "pretty_name", type: "TEXT", description: "PRETTY_NAME, for people" },
  ],
  *rows(ctx) {
    const f = osRelease(ctx);
    if (f === undefined) {
      throw new CollectorError("query_failed", `table os_release: none of ${OS_RELEASE_PATHS.join(", ")} exists`);
    }
    yield {
      name: f.get("NAME") ?? null,
      version: f.get("VERSION") ?? null,
      id: f.get("ID") ?? null,
      id_like: f.get("ID_LIKE") ?? null,
      version_id: f.get("VERSION_ID") ?? null,
      version_codename: f.get("VERSION_CODENAME") ?? null,
      pretty_name: f.get("PRETTY_NAME") ?? null,
    };
  },
});

/** `uptime`: time since boot, whole and split into days/hours/minutes/seconds. */
export const uptimeTable = defineTable({
  name: "uptime",
  description: "Time since the host booted (one row).",
  columns: [
    { name: "days", type: "INTEGER", description: "Whole days of the uptime" },
    { name: "hours", type: "INTEGER", description: "Hours past the whole days (0-23)" },
    { name: "minutes", type: "INTEGER", description: "Minutes past the whole hours (0-59)" },
    { name: "seconds", type: "INTEGER", description: "Seconds past the whole minutes (0-59)" },
    { name: "total_seconds", type: "INTEGER", description: "Seconds since boot" },
    { name: "boot_time", type: "INTEGER", description: "Boot time, Unix seconds", note: "uplink" },
  ],
  *rows(ctx) {
    const total = Math.floor(osUptime());
    yield {
      total_seconds: total,
      days: Math.floor(total / 86_400),
      hours: Math.floor((total % 86_400) / 3_600),
      minutes: Math.floor((total % 3_600) / 60),
      seconds: total % 60,
      boot_time: bootTimeS(ctx, "uptime"),
    };
  },
});
