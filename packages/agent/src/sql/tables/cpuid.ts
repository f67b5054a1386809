import { defineTable } from "../table-def.js";
import { readTextIfPresent } from "./proc.js";

/** One row of `cpuid`. */
export interface CpuidRow {
  feature: string;
  value: string;
  output_register: string | null;
  output_bit: number | null;
  input_eax: string | null;
}

/**
 * The feature bits osquery's cpuid table reports, each as [osquery's name, the name Linux gives the
 * flag in /proc/cpuinfo, CPUID leaf (EAX), output register, bit]. Taken from osquery's own list
 * (osquery/tables/system/cpuid.cpp), including its spelling (`mmz` is the MMX bit, `clfsh` CLFLUSH).
 */
const OSQUERY_FEATURES: readonly (readonly [string, string, number, string, number])[] = [
  ["pae", "pae", 1, "edx", 6],
  ["msr", "msr", 1, "edx", 5],
  ["sep", "sep", 1, "edx", 11],
  ["mtrr", "mtrr", 1, "edx", 12],
  ["pge", "pge", 1, "edx", 13],
  ["mca", "mca", 1, "edx", 14],
  ["pat", "pat", 1, "edx", 16],
  ["clfsh", "clflush", 1, "edx", 19],
  ["acpi", "acpi", 1, "edx", 22],
  ["mmz", "mmx", 1, "edx", 23],
  ["sse", "sse", 1, "edx", 25],
  ["sse2", "sse2", 1, "edx", 26],
  ["ss", "ss", 1, "edx", 27],
  ["htt", "ht", 1, "edx", 28],
  ["ia64", "ia64", 1, "edx", 30],
  ["sse3", "pni", 1, "ecx", 0],
  ["vmx", "vmx", 1, "ecx", 5],
  ["smx", "smx", 1, "ecx", 6],
  ["ssse3", "ssse3", 1, "ecx", 9],
  ["sdbg", "sdbg", 1, "ecx", 11],
  ["pdcm", "pdcm", 1, "ecx", 15],
  ["pcid", "pcid", 1, "ecx", 17],
  ["dca", "dca", 1, "ecx", 18],
  ["sse4.1", "sse4_1", 1, "ecx", 19],
  ["sse4.2", "sse4_2", 1, "ecx", 20],
  ["aes", "aes", 1, "ecx", 25],
  ["avx", "avx", 1, "ecx", 28],
  ["hypervisor", "hypervisor", 1, "ecx", 31],
  ["sgx", "sgx", 7, "ebx", 2],
  ["hle", "hle", 7, "ebx", 4],
  ["avx2", "avx2", 7, "ebx", 5],
  ["smep", "smep", 7, "ebx", 7],
  ["bmi2", "bmi2", 7, "ebx", 8],
  ["erms", "erms", 7, "ebx", 9],
  ["invpcid", "invpcid", 7, "ebx", 10],
  ["rtm", "rtm", 7, "ebx", 11],
  ["pqm", "cqm", 7, "ebx", 12],
  ["mpx", "mpx", 7, "ebx", 14],
  ["pqe", "rdt_a", 7, "ebx", 15],
  ["avx512f", "avx512f", 7, "ebx", 16],
  ["avx512dq", "avx512dq", 7, "ebx", 17],
  ["rdseed", "rdseed", 7, "ebx", 18],
  ["adx", "adx", 7, "ebx", 19],
  ["smap", "smap", 7, "ebx", 20],
  ["intel_pt", "intel_pt", 7, "ebx", 25],
  ["sha", "sha_ni", 7, "ebx", 29],
  ["umip", "umip", 7, "ecx", 2],
  ["pku", "pku", 7, "ecx", 3],
  ["ospke", "ospke", 7, "ecx", 4],
  ["gfni", "gfni", 7, "ecx", 8],
  ["vaes", "vaes", 7, "ecx", 9],
  ["sgx_lc", "sgx_lc", 7, "ecx", 30],
  ["spec_ctrl", "spec_ctrl", 7, "edx", 26],
  ["svm", "svm", 0x80000001, "ecx", 2],
  ["ibs", "ibs", 0x80000001, "ecx", 10],
  ["skinit", "skinit", 0x80000001, "ecx", 12],
  ["lwp", "lwp", 0x80000001, "ecx", 15],
];

/** The `key : value` lines of the first processor block of /proc/cpuinfo (every CPU lists the same features). */
function firstProcessor(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line.trim() === "") {
      if (fields.size > 0) break;
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const key = line.slice(0, colon).trim();
    if (!fields.has(key)) fields.set(key, line.slice(colon + 1).trim());
  }
  return fields;
}

/**
 * Turns /proc/cpuinfo into osquery's cpuid rows: `vendor`, `product_name` and `family` as osquery
 * derives them from the CPUID leaves; then each bit of osquery's feature list with value 1 or 0; then
 * every other flag the kernel lists (value 1), whose leaf, register and bit are not derivable from its
 * name (null). On CPUs without x86 `flags` (arm64 lists `Features`), only the flags, with null registers.
 */
export function parseCpuid(text: string): CpuidRow[] {
  const fields = firstProcessor(text);
  const flagText = fields.get("flags") ?? fields.get("Features");
  const rows: CpuidRow[] = [];
  const vendor = fields.get("vendor_id");
  if (vendor !== undefined) rows.push({ feature: "vendor", value: vendor, output_register: "ebx,edx,ecx", output_bit: 0, input_eax: "0" });
  const model = fields.get("model name");
  if (vendor !== undefined && model !== undefined) {
    rows.push({ feature: "product_name", value: model, output_register: "eax,ebx,ecx,edx", output_bit: 0, input_eax: "0x80000002" });
  }
  const family = Number(fields.get("cpu family"));
  if (vendor !== undefined && Number.isInteger(family) && family >= 0) {
    // osquery reports EAX & 0xf00 of leaf 1: the base family only, which reads 0xf for every extended family.
    rows.push({ feature: "family", value: (Math.min(family, 15) << 8).toString(16).padStart(4, "0"), output_register: "eax", output_bit: 0, input_eax: "1" });
  }
  if (flagText === undefined) return rows;
  const flags = new Set(flagText.split(/\s+/).filter((f) => f !== ""));
  const known = new Set<string>();
  if (fields.has("flags")) {
    for (const [feature, linuxName, eax, register, bit] of OSQUERY_FEATURES) {
      known.add(linuxName);
      rows.push({ feature, value: flags.has(linuxName) ? "1" : "0", output_register: register, output_bit: bit, input_eax: String(eax) });
    }
  }
  for (const flag of flags) {
    if (!known.has(flag)) rows.push({ feature: flag, value: "1", output_register: null, output_bit: null, input_eax: null });
  }
  return rows;
}

/** `cpuid`: the processor's features, from the flags the kernel read with CPUID (/proc/cpuinfo). */
export const cpuidTable = defineTable({
  name: "cpuid",
  description:
    "CPU features from /proc/cpuinfo: vendor, product_name and family, osquery's list of feature bits (value 1 or 0), then every other flag the kernel lists (osquery: cpuid).",
  note: "read from /proc/cpuinfo rather than the CPUID instruction: values are the kernel's view (flags it disabled read 0); adds a row per other kernel flag (null register, bit and leaf); no hypervisor_id, serial, sgx0 or sgx1 rows",
  platforms: ["linux"],
  platformNote: "it reads /proc/cpuinfo",
  columns: [
    { name: "feature", type: "TEXT", description: "Feature: osquery's name for the bits it lists (sse4.1, htt, ...), else the kernel's flag name" },
    { name: "value", type: "TEXT", description: "1 when present, 0 when absent; the string for vendor and product_name, the hex family for family" },
    { name: "output_register", type: "TEXT", description: "Register holding the bit (eax, ebx, ecx, edx); null for a flag outside osquery's list", note: "null for a kernel flag outside osquery's list (osquery lists only its own)" },
    { name: "output_bit", type: "INTEGER", description: "Bit in that register; null for a flag outside osquery's list", note: "null for a kernel flag outside osquery's list (osquery lists only its own)" },
    { name: "input_eax", type: "TEXT", description: "CPUID leaf (EAX) the value comes from; null for a flag outside osquery's list", note: "null for a kernel flag outside osquery's list (osquery lists only its own)" },
  ],
  *rows() {
    yield* parseCpuid(readTextIfPresent("/proc/cpuinfo") ?? "");
  },
});
