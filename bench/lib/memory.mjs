// Memory of a process as Linux counts it, from /proc/<pid>/smaps_rollup, in MB (MiB, one decimal):
// rss (resident, shared pages included), uss (unique: pages no other process maps, what its exit gives
// back) and pss (shared pages split between the processes that map them). Null where there is no /proc.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";

const mb = (kb) => Math.round((kb / 1024) * 10) / 10;

/** `{ rssMb, ussMb, pssMb }` of a live process, or null (gone, or no /proc). */
export function memoryOf(pid) {
  try {
    const fields = {};
    for (const line of readFileSync(`/proc/${pid}/smaps_rollup`, "utf8").split("\n")) {
      const m = /^(\w+):\s+(\d+) kB/.exec(line);
      if (m !== null) fields[m[1]] = Number(m[2]);
    }
    return { rssMb: mb(fields.Rss), ussMb: mb(fields.Private_Clean + fields.Private_Dirty), pssMb: mb(fields.Pss) };
  } catch {
    return null;
  }
}

/** Pids of a process's children (Linux). */
export function childrenOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * The floor: a bare `node` (this binary) that loaded nothing and waits, measured after `settleMs` in the
 * same run as the figures it is set against. `argv` adds V8 flags.
 */
export async function bareNodeMemory(argv = [], settleMs = 2_000) {
  const child = spawn(process.execPath, [...argv, "-e", "setInterval(() => {}, 1 << 30)"], { stdio: "ignore" });
  try {
    await new Promise((r) => setTimeout(r, settleMs));
    return memoryOf(child.pid);
  } finally {
    child.kill("SIGKILL");
  }
}
