import { loadavg } from "node:os";
import { CollectorError } from "../../errors.js";
import { defineTable } from "../table-def.js";
import { readRequired } from "./proc.js";

/** One `cpuN` line of /proc/stat: the core and its ten counters, in USER_HZ ticks. */
export function parseCpuTimes(text: string): { core: number; times: number[] }[] {
  const out: { core: number; times: number[] }[] = [];
  for (const line of text.split("\n")) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (m === null) continue;
    out.push({ core: Number(m[1]), times: (m[2] as string).trim().split(/\s+/).map(Number) });
  }
  return out;
}

/** `cpu_time`: cumulative time per logical CPU since boot, from /proc/stat. */
export const cpuTimeTable = defineTable({
  name: "cpu_time",
  description: "Time each logical CPU spent in each state since boot, from /proc/stat (one row per core), in USER_HZ ticks.",
  platforms: ["linux"],
  platformNote: "it reads /proc/stat",
  columns: [
    { name: "core", type: "INTEGER", description: "Logical CPU index, from 0" },
    { name: "user", type: "INTEGER", description: "Time in user mode" },
    { name: "nice", type: "INTEGER", description: "Time in user mode at low priority (nice)" },
    { name: "system", type: "INTEGER", description: "Time in kernel mode" },
    { name: "idle", type: "INTEGER", description: "Idle time" },
    { name: "iowait", type: "INTEGER", description: "Time waiting for I/O" },
    { name: "irq", type: "INTEGER", description: "Time servicing interrupts" },
    { name: "softirq", type: "INTEGER", description: "Time servicing softirqs" },
    { name: "steal", type: "INTEGER", description: "Time taken by other virtual machines" },
    { name: "guest", type: "INTEGER", description: "Time running a guest's virtual CPU" },
    { name: "guest_nice", type: "INTEGER", description: "Time running a niced guest's virtual CPU" },
  ],
  *rows() {
    for (const { core, times } of parseCpuTimes(readRequired("/proc/stat", "cpu_time"))) {
      const t = (i: number): number | null => times[i] ?? null;
      yield { core, user: t(0), nice: t(1), system: t(2), idle: t(3), iowait: t(4), irq: t(5), softirq: t(6), steal: t(7), guest: t(8), guest_nice: t(9) };
    }
  },
});

/** `load_average`: the 1/5/15-minute run-queue averages. Windows has none (Node reports zeros), so it is excluded. */
export const loadAverage = defineTable({
  name: "load_average",
  description: "System load averages over 1, 5 and 15 minutes (three rows).",
  platforms: ["linux", "darwin", "freebsd", "openbsd", "netbsd", "sunos", "aix"],
  platformNote: "Windows has no load average",
  columns: [
    { name: "period", type: "TEXT", description: "1m, 5m or 15m" },
    { name: "average", type: "TEXT", description: "Load average over the period, six decimals (e.g. 0.250000)" },
  ],
  *rows() {
    const averages = loadavg();
    for (const [i, period] of ["1m", "5m", "15m"].entries()) yield { period, average: (averages[i] ?? 0).toFixed(6) };
  },
});

/** Parses /proc/meminfo (`Key:  123 kB` lines) into bytes by key. */
export function parseMeminfo(text: string): Map<string, number> {
  const fields = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^([^:]+):\s+(\d+)(?:\s+kB)?\s*$/.exec(line);
    if (m === null) continue;
    const kib = line.trimEnd().endsWith("kB");
    fields.set(m[1] as string, Number(m[2]) * (kib ? 1024 : 1));
  }
  return fields;
}

/** `memory_info`: physical memory and swap, from /proc/meminfo. */
export const memoryInfoTable = defineTable({
  name: "memory_info",
  description: "Physical memory and swap, in bytes (one row), from /proc/meminfo.",
  platforms: ["linux"],
  platformNote: "it reads /proc/meminfo",
  columns: [
    { name: "memory_total", type: "INTEGER", description: "Physical memory (MemTotal)" },
    { name: "memory_free", type: "INTEGER", description: "Unused memory (MemFree)" },
    { name: "memory_available", type: "INTEGER", description: "Memory available for new work without swapping (MemAvailable)" },
    { name: "buffers", type: "INTEGER", description: "Block device buffers" },
    { name: "cached", type: "INTEGER", description: "Page cache (Cached)" },
    { name: "swap_cached", type: "INTEGER", description: "Swap used as cache (SwapCached)" },
    { name: "active", type: "INTEGER", description: "Memory in active use (Active)" },
    { name: "inactive", type: "INTEGER", description: "Memory less recently used (Inactive)" },
    { name: "swap_total", type: "INTEGER", description: "Swap space" },
    { name: "swap_free", type: "INTEGER", description: "Unused swap space" },
  ],
  *rows() {
    const m = parseMeminfo(readRequired("/proc/meminfo", "memory_info"));
    const total = m.get("MemTotal");
    if (total === undefined) throw new CollectorError("query_failed", "table memory_info: /proc/meminfo has no MemTotal line");
    const get = (key: string): number | null => m.get(key) ?? null;
    yield {
      memory_total: total,
      memory_free: get("MemFree"),
      memory_available: get("MemAvailable"),
      buffers: get("Buffers"),
      cached: get("Cached"),
      swap_cached: get("SwapCached"),
      active: get("Active"),
      inactive: get("Inactive"),
      swap_total: get("SwapTotal"),
      swap_free: get("SwapFree"),
    };
  },
});
