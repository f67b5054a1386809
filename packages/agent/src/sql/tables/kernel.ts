import { readFileSync, readdirSync } from "node:fs";
import { defineTable, type TableContext } from "../table-def.js";
import { expandHostPattern, readHostText } from "./host-files.js";
import { readTextIfPresent } from "./proc.js";

/** One loaded module of /proc/modules. */
export interface KernelModule {
  name: string;
  size: number;
  used_by: string;
  status: string;
  address: string;
}

/**
 * Parses /proc/modules (`name size refcount used_by state address [taint]`); like osquery, the trailing
 * comma of the used_by list is dropped ("-" when nothing uses the module).
 */
export function parseModules(text: string): KernelModule[] {
  const modules: KernelModule[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 6) continue;
    modules.push({
      name: f[0] as string,
      size: Number(f[1]),
      used_by: (f[3] as string).replace(/,$/, ""),
      status: f[4] as string,
      address: f[5] as string,
    });
  }
  return modules;
}

/** `kernel_modules`: loaded kernel modules. */
export const kernelModulesTable = defineTable({
  name: "kernel_modules",
  description: "Loaded kernel modules from /proc/modules; none on a kernel without module support (osquery: kernel_modules).",
  platforms: ["linux"],
  platformNote: "it reads /proc/modules",
  columns: [
    { name: "name", type: "TEXT", description: "Module name" },
    { name: "size", type: "INTEGER", description: "Size of the module in memory, bytes" },
    { name: "used_by", type: "TEXT", description: "Modules that depend on it, comma-separated; - when none" },
    { name: "status", type: "TEXT", description: "Live, Loading or Unloading" },
    { name: "address", type: "TEXT", description: "Load address (0x0000000000000000 unless the reader may see kernel addresses)" },
  ],
  *rows() {
    yield* parseModules(readTextIfPresent("/proc/modules") ?? "");
  },
});

/** Files whose `key = value` lines set sysctls at boot, in the order osquery reads them (later wins). */
const SYSCTL_CONFIGS = [
  "/etc/sysctl.conf",
  "/run/sysctl.d/%.conf",
  "/etc/sysctl.d/%.conf",
  "/usr/local/lib/sysctl.d/%.conf",
  "/usr/lib/sysctl.d/%.conf",
  "/lib/sysctl.d/%.conf",
];

/**
 * Parses sysctl.conf(5) lines into name → value. Names may use `/` or `.` as separator and a leading
 * `-` (ignore failures); both are normalised to the dotted name /proc/sys paths give.
 */
export function parseSysctlConf(text: string, into = new Map<string, string>()): Map<string, string> {
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    const name = line.slice(0, eq).trim().replace(/^-/, "").replaceAll("/", ".");
    into.set(name, line.slice(eq + 1).trim());
  }
  return into;
}

function sysctlConfig(ctx: TableContext): Map<string, string> {
  return ctx.memo("kernel.sysctl-config", () => {
    const config = new Map<string, string>();
    for (const pattern of SYSCTL_CONFIGS) {
      for (const path of expandHostPattern(ctx, pattern)) {
        const text = readHostText(ctx, path);
        if (text !== undefined) parseSysctlConf(text, config);
      }
    }
    return config;
  });
}

/** Depth-first over /proc/sys: directories before files at each level, as osquery lists them. */
function* walkSysctls(dir: string, name: string): Generator<{ path: string; name: string }> {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) if (e.isDirectory()) yield* walkSysctls(`${dir}/${e.name}`, name === "" ? e.name : `${name}.${e.name}`);
  for (const e of entries) if (e.isFile()) yield { path: `${dir}/${e.name}`, name: name === "" ? e.name : `${name}.${e.name}` };
}

/** `system_controls`: kernel parameters (sysctl) with their current and configured values. */
export const systemControlsTable = defineTable({
  name: "system_controls",
  description:
    "Kernel parameters from /proc/sys, with the value /etc/sysctl.conf and the sysctl.d directories set for each (osquery: system_controls).",
  platforms: ["linux"],
  platformNote: "it reads /proc/sys",
  columns: [
    { name: "name", type: "TEXT", description: "Dotted sysctl name (e.g. net.ipv4.ip_forward)" },
    { name: "oid", type: "TEXT", description: "Numeric MIB; empty on Linux (as in osquery)" },
    { name: "subsystem", type: "TEXT", description: "First component of the name (kernel, net, vm, fs, ...)" },
    { name: "current_value", type: "TEXT", description: "Current value, whitespace-trimmed; empty for write-only parameters" },
    { name: "config_value", type: "TEXT", description: "Value the sysctl configuration files set; null when none does" },
    { name: "type", type: "TEXT", description: "Always string (Linux does not expose types)" },
  ],
  *rows(ctx) {
    const config = sysctlConfig(ctx);
    for (const s of walkSysctls("/proc/sys", "")) {
      let current = "";
      try {
        current = readFileSync(s.path, "utf8").trim();
      } catch {
        // Write-only parameters (vm.compact_memory, net.ipv4.route.flush) refuse reads: osquery shows them empty.
      }
      yield {
        name: s.name,
        oid: "",
        subsystem: s.name.split(".")[0] ?? "",
        current_value: current,
        config_value: config.get(s.name) ?? null,
        type: "string",
      };
    }
  },
});
