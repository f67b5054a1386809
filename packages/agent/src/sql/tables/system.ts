import { arch, cpus, hostname, release, totalmem, type as osType, uptime as osUptime, version as osVersion } from "node:os";
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
      const text = readTextIfPresent(path);
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

/** `system_info`: one row describing the host. */
export const systemInfo = defineTable({
  name: "system_info",
  description: "The host: name, operating system, kernel, CPU, memory and boot time (one row).",
  columns: [
    { name: "hostname", type: "TEXT", description: "Host name, as os.hostname() reports it" },
    { name: "os", type: "TEXT", description: "Operating system: os-release PRETTY_NAME on Linux, else type and release" },
    { name: "platform", type: "TEXT", description: "Node.js platform name (linux, darwin, win32, ...)" },
    { name: "kernel_version", type: "TEXT", description: "Kernel release (uname -r)" },
    { name: "kernel_build", type: "TEXT", description: "Kernel build string (uname -v)" },
    { name: "arch", type: "TEXT", description: "CPU architecture (x64, arm64, ...)" },
    { name: "cpu_model", type: "TEXT", description: "Model name of the first logical CPU" },
    { name: "cpu_count", type: "INTEGER", description: "Number of logical CPUs" },
    { name: "memory_total", type: "INTEGER", description: "Physical memory in bytes" },
    { name: "boot_time", type: "INTEGER", description: "Boot time, Unix seconds" },
  ],
  *rows(ctx) {
    const cores = cpus();
    const pretty = ctx.platform === "linux" ? osRelease(ctx)?.get("PRETTY_NAME") : undefined;
    yield {
      hostname: hostname(),
      os: pretty ?? `${osType()} ${release()}`,
      platform: ctx.platform,
      kernel_version: release(),
      kernel_build: osVersion(),
      arch: arch(),
      cpu_model: cores[0]?.model ?? null,
      cpu_count: cores.length,
      memory_total: totalmem(),
      boot_time: bootTimeS(ctx, "system_info"),
    };
  },
});

/** `os_release`: the distribution, from os-release(5). */
export const osReleaseTable = defineTable({
  name: "os_release",
  description: "The Linux distribution, from /etc/os-release (or /usr/lib/os-release); one row.",
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
    { name: "total_seconds", type: "INTEGER", description: "Seconds since boot" },
    { name: "days", type: "INTEGER", description: "Whole days of the uptime" },
    { name: "hours", type: "INTEGER", description: "Hours past the whole days (0-23)" },
    { name: "minutes", type: "INTEGER", description: "Minutes past the whole hours (0-59)" },
    { name: "seconds", type: "INTEGER", description: "Seconds past the whole minutes (0-59)" },
    { name: "boot_time", type: "INTEGER", description: "Boot time, Unix seconds" },
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
