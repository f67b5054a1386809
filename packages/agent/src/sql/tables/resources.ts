import { cpus, freemem, loadavg, totalmem } from "node:os";
import { CollectorError } from "../../errors.js";
import { defineTable } from "../table-def.js";
import { readRequired } from "./proc.js";

/** `cpu`: cumulative time per logical CPU since boot. */
export const cpuTable = defineTable({
  name: "cpu",
  description: "Each logical CPU with its model, speed and cumulative times since boot (one row per core).",
  columns: [
    { name: "core", type: "INTEGER", description: "Logical CPU index, from 0" },
    { name: "model", type: "TEXT", description: "CPU model name" },
    { name: "speed_mhz", type: "INTEGER", description: "Current (or nominal) clock speed in MHz" },
    { name: "user_ms", type: "INTEGER", description: "Time in user mode, ms" },
    { name: "nice_ms", type: "INTEGER", description: "Time in user mode at low priority (nice), ms" },
    { name: "system_ms", type: "INTEGER", description: "Time in kernel mode, ms" },
    { name: "idle_ms", type: "INTEGER", description: "Idle time, ms" },
    { name: "irq_ms", type: "INTEGER", description: "Time servicing interrupts, ms" },
  ],
  *rows() {
    let core = 0;
    for (const c of cpus()) {
      yield {
        core: core++,
        model: c.model,
        speed_mhz: c.speed,
        user_ms: c.times.user,
        nice_ms: c.times.nice,
        system_ms: c.times.sys,
        idle_ms: c.times.idle,
        irq_ms: c.times.irq,
      };
    }
  },
});

/** `load_average`: the 1/5/15-minute run-queue averages. Windows has none (Node reports zeros), so it is excluded. */
export const loadAverage = defineTable({
  name: "load_average",
  description: "System load averages over 1, 5 and 15 minutes (one row).",
  platforms: ["linux", "darwin", "freebsd", "openbsd", "netbsd", "sunos", "aix"],
  platformNote: "Windows has no load average",
  columns: [
    { name: "load1", type: "REAL", description: "Average over the last minute" },
    { name: "load5", type: "REAL", description: "Average over the last 5 minutes" },
    { name: "load15", type: "REAL", description: "Average over the last 15 minutes" },
  ],
  *rows() {
    const [load1, load5, load15] = loadavg();
    yield { load1: load1 ?? null, load5: load5 ?? null, load15: load15 ?? null };
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

/** `memory`: physical memory and swap. Linux reads /proc/meminfo; elsewhere only total and free are known. */
export const memoryTable = defineTable({
  name: "memory",
  description: "Physical memory and swap, in bytes (one row); fields other than total and free are null off Linux.",
  columns: [
    { name: "total", type: "INTEGER", description: "Physical memory" },
    { name: "free", type: "INTEGER", description: "Unused memory (MemFree)" },
    { name: "available", type: "INTEGER", description: "Memory available for new work without swapping (MemAvailable)" },
    { name: "buffers", type: "INTEGER", description: "Block device buffers" },
    { name: "cached", type: "INTEGER", description: "Page cache (Cached)" },
    { name: "shared", type: "INTEGER", description: "Shared memory, tmpfs included (Shmem)" },
    { name: "swap_total", type: "INTEGER", description: "Swap space" },
    { name: "swap_free", type: "INTEGER", description: "Unused swap space" },
  ],
  *rows(ctx) {
    if (ctx.platform !== "linux") {
      yield { total: totalmem(), free: freemem(), available: null, buffers: null, cached: null, shared: null, swap_total: null, swap_free: null };
      return;
    }
    const m = parseMeminfo(readRequired("/proc/meminfo", "memory"));
    const total = m.get("MemTotal");
    if (total === undefined) throw new CollectorError("query_failed", "table memory: /proc/meminfo has no MemTotal line");
    yield {
      total,
      free: m.get("MemFree") ?? null,
      available: m.get("MemAvailable") ?? null,
      buffers: m.get("Buffers") ?? null,
      cached: m.get("Cached") ?? null,
      shared: m.get("Shmem") ?? null,
      swap_total: m.get("SwapTotal") ?? null,
      swap_free: m.get("SwapFree") ?? null,
    };
  },
});
