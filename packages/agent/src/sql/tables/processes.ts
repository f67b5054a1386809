import { readFileSync, readlinkSync } from "node:fs";
import { defineTable, wants } from "../table-def.js";
import { bootTime, isVanishedError, listPids, systemConstants } from "./proc.js";

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

function link(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch {
    // Kernel threads have no executable, and another user's process hides its links from non-root readers.
    return null;
  }
}

/** Real, effective, saved and filesystem ids of the `Uid:`/`Gid:` lines of /proc/<pid>/status. */
export function parseStatusIds(status: string, key: "Uid" | "Gid"): number[] | undefined {
  const m = new RegExp(`^${key}:\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)`, "m").exec(status);
  return m === null ? undefined : [Number(m[1]), Number(m[2]), Number(m[3])];
}

/** `read_bytes`/`write_bytes` of /proc/<pid>/io (readable only for one's own processes, unless root). */
function ioBytes(pid: number): { read: number | null; written: number | null } {
  try {
    const text = readFileSync(`/proc/${pid}/io`, "utf8");
    const read = /^read_bytes:\s+(\d+)/m.exec(text);
    const written = /^write_bytes:\s+(\d+)/m.exec(text);
    return { read: read ? Number(read[1]) : null, written: written ? Number(written[1]) : null };
  } catch {
    return { read: null, written: null };
  }
}

/** The unified (v2) cgroup path of /proc/<pid>/cgroup, else the first hierarchy's. */
function cgroupPath(pid: number): string | null {
  try {
    const lines = readFileSync(`/proc/${pid}/cgroup`, "utf8").split("\n").filter((l) => l !== "");
    const v2 = lines.find((l) => l.startsWith("0::"));
    const line = v2 ?? lines[0];
    return line === undefined ? null : line.slice(line.indexOf(":", line.indexOf(":") + 1) + 1);
  } catch {
    return null;
  }
}

/** `processes`: every process of the host, from /proc. */
export const processesTable = defineTable({
  name: "processes",
  description: "Running processes, from /proc/<pid>/{stat,status,cmdline,exe,cwd,root,io,cgroup} (one row per process).",
  platforms: ["linux"],
  platformNote: "it reads /proc",
  columns: [
    { name: "pid", type: "INTEGER", description: "Process id" },
    { name: "name", type: "TEXT", description: "Command name (comm, at most 15 bytes)" },
    { name: "path", type: "TEXT", description: "Path of the executable; empty for kernel threads or when not readable" },
    { name: "cmdline", type: "TEXT", description: "Command line, arguments separated by spaces (empty for kernel threads)" },
    { name: "state", type: "TEXT", description: "State letter: R running, S sleeping, D disk wait, Z zombie, T stopped, I idle" },
    { name: "cwd", type: "TEXT", description: "Current working directory; empty when not readable" },
    { name: "root", type: "TEXT", description: "Root directory (chroot); empty when not readable" },
    { name: "uid", type: "INTEGER", description: "Real user id" },
    { name: "gid", type: "INTEGER", description: "Real group id" },
    { name: "euid", type: "INTEGER", description: "Effective user id" },
    { name: "egid", type: "INTEGER", description: "Effective group id" },
    { name: "suid", type: "INTEGER", description: "Saved user id" },
    { name: "sgid", type: "INTEGER", description: "Saved group id" },
    { name: "on_disk", type: "INTEGER", description: "1 if the executable still exists on disk, 0 if it was deleted, -1 when unknown" },
    { name: "wired_size", type: "INTEGER", description: "Unpageable memory, bytes (0 on Linux)" },
    { name: "resident_size", type: "INTEGER", description: "Resident memory, bytes" },
    { name: "total_size", type: "INTEGER", description: "Virtual memory size, bytes" },
    { name: "user_time", type: "INTEGER", description: "CPU time in user mode, ms" },
    { name: "system_time", type: "INTEGER", description: "CPU time in kernel mode, ms" },
    { name: "disk_bytes_read", type: "INTEGER", description: "Bytes read from storage (null when /proc/<pid>/io is not readable)" },
    { name: "disk_bytes_written", type: "INTEGER", description: "Bytes written to storage (null when /proc/<pid>/io is not readable)" },
    { name: "start_time", type: "INTEGER", description: "Start time, Unix seconds" },
    { name: "parent", type: "INTEGER", description: "Parent process id" },
    { name: "pgroup", type: "INTEGER", description: "Process group id" },
    { name: "threads", type: "INTEGER", description: "Number of threads" },
    { name: "nice", type: "INTEGER", description: "Nice value (-20 to 19)" },
    { name: "cgroup_path", type: "TEXT", description: "Control group path (cgroup v2, else the first hierarchy)" },
  ],
  *rows(ctx, scan) {
    // The costlier per-process reads happen only when the query mentions a column that needs them.
    const need = (column: string): boolean => wants(scan, column);
    const needIo = need("disk_bytes_read") || need("disk_bytes_written");
    const needExe = need("path") || need("on_disk");
    const { clockTicks, pageSize } = systemConstants();
    const btime = bootTime(ctx, "processes");
    for (const pid of listPids("processes")) {
      // Any of these reads fails when the process exits mid-scan; that process is skipped, never an error.
      let stat: ProcStat | undefined;
      let status: string;
      let cmdline: string;
      try {
        stat = parseProcStat(readFileSync(`/proc/${pid}/stat`, "utf8"));
        status = readFileSync(`/proc/${pid}/status`, "utf8");
        // Read last: if cmdline is still there, the process outlived every read above.
        cmdline = parseCmdline(readFileSync(`/proc/${pid}/cmdline`));
      } catch (err) {
        if (isVanishedError(err)) continue;
        throw err;
      }
      if (stat === undefined) continue;
      const uids = parseStatusIds(status, "Uid") ?? [];
      const gids = parseStatusIds(status, "Gid") ?? [];
      const exe = needExe ? link(`/proc/${pid}/exe`) : null;
      const io = needIo ? ioBytes(pid) : { read: null, written: null };
      const uid = uids[0] ?? null;
      yield {
        pid: stat.pid,
        name: stat.name,
        path: !needExe ? null : exe === null ? "" : exe.replace(/ \(deleted\)$/, ""),
        cmdline,
        state: stat.state,
        cwd: need("cwd") ? (link(`/proc/${pid}/cwd`) ?? "") : null,
        root: need("root") ? (link(`/proc/${pid}/root`) ?? "") : null,
        uid,
        gid: gids[0] ?? null,
        euid: uids[1] ?? null,
        egid: gids[1] ?? null,
        suid: uids[2] ?? null,
        sgid: gids[2] ?? null,
        on_disk: !needExe ? null : exe === null ? -1 : exe.endsWith(" (deleted)") ? 0 : 1,
        wired_size: 0,
        resident_size: stat.rssPages * pageSize,
        total_size: stat.vsizeBytes,
        user_time: Math.round((stat.utimeTicks * 1000) / clockTicks),
        system_time: Math.round((stat.stimeTicks * 1000) / clockTicks),
        disk_bytes_read: io.read,
        disk_bytes_written: io.written,
        start_time: btime + Math.floor(stat.startTicks / clockTicks),
        parent: stat.ppid,
        pgroup: stat.pgid,
        threads: stat.threads,
        nice: stat.nice,
        cgroup_path: need("cgroup_path") ? cgroupPath(pid) : null,
      };
    }
  },
});
