import { readdirSync, readFileSync } from "node:fs";
import { endianness } from "node:os";
import { CollectorError } from "../../errors.js";
import type { TableContext } from "../table-def.js";

/**
 * Errors that mean "this /proc entry is gone or not ours to read": a process that exited between
 * listing and reading (ENOENT, ESRCH), or one owned by another user (EACCES, EPERM). Readers skip
 * the entry instead of failing the query.
 */
export function isVanishedError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === "ENOENT" || code === "ESRCH" || code === "EACCES" || code === "EPERM" || code === "ENOTDIR";
}

/** Reads a text file, or returns undefined when it vanished or is not readable (see {@link isVanishedError}). */
export function readTextIfPresent(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    if (isVanishedError(err)) return undefined;
    throw err;
  }
}

/** Reads a file the table cannot do without, turning any failure into a `query_failed` that names it. */
export function readRequired(path: string, table: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new CollectorError("query_failed", `table ${table}: cannot read ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** The numeric entries of /proc: one per process, in the order the kernel lists them. */
export function listPids(table: string): number[] {
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch (err) {
    throw new CollectorError("query_failed", `table ${table}: cannot list /proc: ${(err as Error).message}`, { cause: err });
  }
  const pids: number[] = [];
  for (const e of entries) if (/^\d+$/.test(e)) pids.push(Number(e));
  return pids;
}

interface Auxv {
  /** Kernel clock ticks per second (USER_HZ), the unit of /proc/<pid>/stat times. */
  clockTicks: number;
  pageSize: number;
}

const WORD64_ARCHES: ReadonlySet<string> = new Set(["x64", "arm64", "ppc64", "s390x", "riscv64", "loong64", "mips64el"]);

let auxv: Auxv | undefined;

/**
 * USER_HZ and the page size, read once from the ELF auxiliary vector (/proc/self/auxv: AT_CLKTCK = 17,
 * AT_PAGESZ = 6), because Node cannot call sysconf(). Falls back to 100 Hz and 4 KiB, the values of
 * every mainstream Linux architecture, when the vector cannot be read.
 */
export function systemConstants(): Auxv {
  if (auxv !== undefined) return auxv;
  const found: Auxv = { clockTicks: 100, pageSize: 4096 };
  try {
    const buf = readFileSync("/proc/self/auxv");
    // auxv is an array of native-word (key, value) pairs in native byte order, ended by key 0.
    const word = WORD64_ARCHES.has(process.arch) ? 8 : 4;
    const le = endianness() === "LE";
    const read = (at: number): number =>
      word === 8
        ? Number(le ? buf.readBigUInt64LE(at) : buf.readBigUInt64BE(at))
        : le
          ? buf.readUInt32LE(at)
          : buf.readUInt32BE(at);
    for (let at = 0; at + 2 * word <= buf.length; at += 2 * word) {
      const key = read(at);
      if (key === 0) break;
      const value = read(at + word);
      if (key === 17 && value > 0) found.clockTicks = value;
      if (key === 6 && value > 0) found.pageSize = value;
    }
  } catch {
    // Keep the defaults: a missing auxv (non-Linux, hardened /proc) is not a reason to fail a query.
  }
  auxv = found;
  return found;
}

/** Boot time in Unix seconds from /proc/stat `btime`, memoised per query. */
export function bootTime(ctx: TableContext, table: string): number {
  return ctx.memo("proc.btime", () => {
    const match = /^btime\s+(\d+)$/m.exec(readRequired("/proc/stat", table));
    if (match?.[1] === undefined) throw new CollectorError("query_failed", `table ${table}: /proc/stat has no btime line`);
    return Number(match[1]);
  });
}

/** One line of /etc/passwd, without its password field. */
export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  description: string;
  home: string;
  shell: string;
}

/**
 * Parses /etc/passwd. The second field (a password hash on ancient systems, `x` today) is dropped on
 * purpose; NIS include lines (`+`, `-`), comments and malformed lines are skipped.
 */
export function parsePasswd(text: string): PasswdEntry[] {
  const entries: PasswdEntry[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#") || line.startsWith("+") || line.startsWith("-")) continue;
    const f = line.split(":");
    if (f.length < 7) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    entries.push({ name: f[0] as string, uid, gid, description: f[4] as string, home: f[5] as string, shell: f.slice(6).join(":") });
  }
  return entries;
}

/** The local users of /etc/passwd (never /etc/shadow), memoised per query. */
export function passwd(ctx: TableContext): PasswdEntry[] {
  return ctx.memo("etc.passwd", () => parsePasswd(readTextIfPresent(ctx.hostPath("/etc/passwd")) ?? ""));
}

/** uid → user name from /etc/passwd, memoised per query; the first entry wins for a duplicated uid. */
export function userNames(ctx: TableContext): ReadonlyMap<number, string> {
  return ctx.memo("etc.passwd.byUid", () => {
    const names = new Map<number, string>();
    for (const e of passwd(ctx)) if (!names.has(e.uid)) names.set(e.uid, e.name);
    return names;
  });
}
