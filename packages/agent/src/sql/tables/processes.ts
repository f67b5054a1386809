import { readFileSync, readlinkSync, statSync } from "node:fs";
import { defineTable } from "../table-def.js";
import { bootTime, isVanishedError, listPids, systemConstants, userNames } from "./proc.js";

/** The fields of /proc/<pid>/stat the table uses, in raw kernel units. */
export interface ProcStat {
  pid: number;
  name: string;
  state: string;
  ppid: number;
  pgid: number;
  utimeTicks: number;
  stimeTicks: number;
  nice: number;
  threads: number;
  startTicks: number;
  vsizeBytes: number;
  rssPages: number;
}

/**
 * Parses /proc/<pid>/stat. The command name sits in parentheses and may itself contain spaces and
 * parentheses, so the fields after it are found from the *last* `)`. Returns undefined for a line that
 * does not have the expected shape.
 */
export function parseProcStat(line: string): ProcStat | undefined {
  const open = line.indexOf("(");
  const close = line.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  // rest[0] is field 3 (state) of proc(5); field k is rest[k - 3].
  const rest = line.slice(close + 2).split(" ");
  if (rest.length < 22) return undefined;
  const num = (k: number): number => Number(rest[k - 3]);
  return {
    pid: Number(line.slice(0, open).trim()),
    name: line.slice(open + 1, close),
    state: rest[0] as string,
    ppid: num(4),
    pgid: num(5),
    utimeTicks: num(14),
    stimeTicks: num(15),
    nice: num(19),
    threads: num(20),
    startTicks: num(22),
    vsizeBytes: num(23),
    rssPages: num(24),
  };
}

/** Joins a NUL-separated /proc/<pid>/cmdline into one space-separated line. */
export function parseCmdline(buf: Buffer): string {
  return buf.toString("utf8").replace(/\0+$/, "").replaceAll("\0", " ");
}

function exePath(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    // Kernel threads have no executable, and another user's process hides it from non-root readers.
    return null;
  }
}

/** `processes`: every process of the host, from /proc. */
export const processesTable = defineTable({
  name: "processes",
  description: "Running processes, from /proc/<pid>/{stat,cmdline,exe} (one row per process).",
  platforms: ["linux"],
  platformNote: "it reads /proc",
  columns: [
    { name: "pid", type: "INTEGER", description: "Process id" },
    { name: "ppid", type: "INTEGER", description: "Parent process id" },
    { name: "pgid", type: "INTEGER", description: "Process group id" },
    { name: "name", type: "TEXT", description: "Command name (comm, at most 15 bytes)" },
    { name: "state", type: "TEXT", description: "State letter: R running, S sleeping, D disk wait, Z zombie, T stopped, I idle" },
    { name: "uid", type: "INTEGER", description: "Effective user id (owner of /proc/<pid>)" },
    { name: "user", type: "TEXT", description: "User name of uid from /etc/passwd, null when unknown" },
    { name: "rss", type: "INTEGER", description: "Resident memory in bytes" },
    { name: "vsize", type: "INTEGER", description: "Virtual memory size in bytes" },
    { name: "threads", type: "INTEGER", description: "Number of threads" },
    { name: "nice", type: "INTEGER", description: "Nice value (-20 to 19)" },
    { name: "user_time_ms", type: "INTEGER", description: "CPU time in user mode, ms" },
    { name: "system_time_ms", type: "INTEGER", description: "CPU time in kernel mode, ms" },
    { name: "start_time", type: "INTEGER", description: "Start time, Unix seconds" },
    { name: "path", type: "TEXT", description: "Executable path; null for kernel threads or when not readable" },
    { name: "cmdline", type: "TEXT", description: "Command line, arguments separated by spaces (empty for kernel threads)" },
  ],
  *rows(ctx) {
    const { clockTicks, pageSize } = systemConstants();
    const btime = bootTime(ctx, "processes");
    const names = userNames(ctx);
    for (const pid of listPids("processes")) {
      // Any of these reads fails when the process exits mid-scan; that process is skipped, never an error.
      let stat: ProcStat | undefined;
      let uid: number;
      let cmdline: string;
      let path: string | null;
      try {
        stat = parseProcStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
        uid = statSync(`/proc/${pid}`).uid;
        path = exePath(pid);
        // Read last: if cmdline is still there, the process outlived every read above.
        cmdline = parseCmdline(readFileSync(`/proc/${pid}/cmdline`));
      } catch (err) {
        if (isVanishedError(err)) continue;
        throw err;
      }
      if (stat === undefined) continue;
      yield {
        pid: stat.pid,
        ppid: stat.ppid,
        pgid: stat.pgid,
        name: stat.name,
        state: stat.state,
        uid,
        user: names.get(uid) ?? null,
        rss: stat.rssPages * pageSize,
        vsize: stat.vsizeBytes,
        threads: stat.threads,
        nice: stat.nice,
        user_time_ms: Math.round((stat.utimeTicks * 1000) / clockTicks),
        system_time_ms: Math.round((stat.stimeTicks * 1000) / clockTicks),
        start_time: btime + Math.floor(stat.startTicks / clockTicks),
        path,
        cmdline,
      };
    }
  },
});
