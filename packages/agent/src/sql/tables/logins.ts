import { closeSync, openSync, readSync } from "node:fs";
import { endianness } from "node:os";
import { defineTable } from "../table-def.js";
import { isVanishedError } from "./proc.js";

/**
 * Size of glibc's `struct utmp` on Linux (every 64- and 32-bit ABI glibc supports keeps `ut_tv` as two
 * int32 so the files stay portable):
 *
 *   0 ut_type i16 | 4 ut_pid i32 | 8 ut_line[32] | 40 ut_id[4] | 44 ut_user[32] | 76 ut_host[256]
 *   332 ut_exit | 336 ut_session i32 | 340 tv_sec i32 | 344 tv_usec i32 | 348 ut_addr_v6[16] | 364 unused[20]
 */
export const UTMP_RECORD_SIZE = 384;

/** ut_type values of utmp.h and the names osquery's tables give them. */
const LOGIN_TYPE_NAMES: Record<number, string> = {
  0: "empty",
  1: "runlevel",
  2: "boot_time",
  3: "new_time",
  4: "old_time",
  5: "init",
  6: "login",
  7: "user",
  8: "dead",
  9: "accounting",
};
const USER_PROCESS = 7;
const DEAD_PROCESS = 8;

/** One utmp/wtmp record. */
export interface UtmpRecord {
  type: number;
  pid: number;
  line: string;
  user: string;
  host: string;
  /** Seconds since the epoch. */
  time: number;
}

/** A fixed-size C string field: bytes up to the first NUL. */
function cString(buf: Buffer, start: number, length: number): string {
  const field = buf.subarray(start, start + length);
  const nul = field.indexOf(0);
  return field.subarray(0, nul < 0 ? field.length : nul).toString("utf8");
}

/** Decodes one 384-byte utmp record at `offset`, in the host's byte order unless told otherwise. */
export function parseUtmpRecord(buf: Buffer, offset = 0, le = endianness() === "LE"): UtmpRecord {
  const i16 = (at: number): number => (le ? buf.readInt16LE(offset + at) : buf.readInt16BE(offset + at));
  const i32 = (at: number): number => (le ? buf.readInt32LE(offset + at) : buf.readInt32BE(offset + at));
  return {
    type: i16(0),
    pid: i32(4),
    line: cString(buf, offset + 8, 32),
    user: cString(buf, offset + 44, 32),
    host: cString(buf, offset + 76, 256),
    time: i32(340) >>> 0,
  };
}

/**
 * Reads a utmp-format file record by record, a chunk at a time, so a large wtmp is never held whole
 * and a query that stops early (LIMIT) stops reading. No descriptor stays open between chunks: a scan
 * abandoned mid-file leaks nothing. A missing or unreadable file yields nothing; a trailing partial
 * record is ignored.
 */
export function* readUtmpFile(path: string): Generator<UtmpRecord> {
  const chunk = Buffer.alloc(UTMP_RECORD_SIZE * 256);
  for (let position = 0; ; ) {
    let n: number;
    try {
      const fd = openSync(path, "r");
      try {
        n = readSync(fd, chunk, 0, chunk.length, position);
      } finally {
        closeSync(fd);
      }
    } catch (err) {
      if (isVanishedError(err)) return;
      throw err;
    }
    const whole = n - (n % UTMP_RECORD_SIZE);
    for (let at = 0; at < whole; at += UTMP_RECORD_SIZE) yield parseUtmpRecord(chunk, at);
    if (n < chunk.length) return;
    position += whole;
  }
}

/** `logged_in_users`: the entries of utmp, osquery's columns. */
export const loggedInUsersTable = defineTable({
  name: "logged_in_users",
  description: "Current sessions from utmp (/var/run/utmp) (osquery: logged_in_users).",
  platforms: ["linux"],
  platformNote: "it reads the utmp file",
  columns: [
    { name: "type", type: "TEXT", description: "Entry type: user, login, init, dead, boot_time, runlevel, ..." },
    { name: "user", type: "TEXT", description: "User login name" },
    { name: "tty", type: "TEXT", description: "Terminal (ut_line)" },
    { name: "host", type: "TEXT", description: "Remote host name or address" },
    { name: "time", type: "INTEGER", description: "When the entry was made, Unix seconds" },
    { name: "pid", type: "INTEGER", description: "Process id of the login" },
  ],
  *rows(ctx) {
    for (const r of readUtmpFile(ctx.hostPath("/var/run/utmp"))) {
      // osquery skips init's own entries (pid 1): they describe no session.
      if (r.pid === 1) continue;
      yield { type: LOGIN_TYPE_NAMES[r.type] ?? "unknown", user: r.user, tty: r.line, host: r.host, time: r.time, pid: r.pid };
    }
  },
});

/** `last`: logins and logouts from wtmp, osquery's columns. */
export const lastTable = defineTable({
  name: "last",
  description: "Logins and logouts from wtmp (/var/log/wtmp), oldest first (osquery: last).",
  platforms: ["linux"],
  platformNote: "it reads the wtmp file",
  columns: [
    { name: "username", type: "TEXT", description: "User login name (empty for a logout)" },
    { name: "tty", type: "TEXT", description: "Terminal (ut_line)" },
    { name: "pid", type: "INTEGER", description: "Process id of the login" },
    { name: "type", type: "INTEGER", description: "ut_type: 7 login (USER_PROCESS), 8 logout (DEAD_PROCESS)" },
    { name: "type_name", type: "TEXT", description: "user-process or dead-process" },
    { name: "time", type: "INTEGER", description: "Entry time, Unix seconds" },
    { name: "host", type: "TEXT", description: "Remote host name or address" },
  ],
  *rows(ctx) {
    for (const r of readUtmpFile(ctx.hostPath("/var/log/wtmp"))) {
      if (r.type !== USER_PROCESS && r.type !== DEAD_PROCESS) continue;
      yield {
        username: r.user,
        tty: r.line,
        pid: r.pid,
        type: r.type,
        type_name: r.type === USER_PROCESS ? "user-process" : "dead-process",
        time: r.time,
        host: r.host,
      };
    }
  },
});
