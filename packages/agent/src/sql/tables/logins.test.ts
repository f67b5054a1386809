import { afterEach, describe, expect, it } from "vitest";
import { NO_CONSTRAINTS } from "../table-def.js";
import { fakeHost, type FakeHost } from "../../../test/fake-host.js";
import { lastTable, loggedInUsersTable, parseUtmpRecord, readUtmpFile, UTMP_RECORD_SIZE } from "./logins.js";

/** One little-endian utmp record as glibc writes it on x86-64. */
function utmp(r: { type: number; pid: number; line: string; user: string; host: string; time: number }): Buffer {
  const b = Buffer.alloc(UTMP_RECORD_SIZE);
  b.writeInt16LE(r.type, 0);
  b.writeInt32LE(r.pid, 4);
  b.write(r.line, 8, 32, "utf8");
  b.write(r.user, 44, 32, "utf8");
  b.write(r.host, 76, 256, "utf8");
  b.writeInt32LE(r.time, 340);
  b.writeInt32LE(123456, 344);
  return b;
}

const LOGIN = { type: 7, pid: 4242, line: "pts/0", user: "alice", host: "203.0.113.9", time: 1_700_000_000 };
const LOGOUT = { type: 8, pid: 4242, line: "pts/0", user: "", host: "", time: 1_700_000_600 };
const BOOT = { type: 2, pid: 0, line: "~", user: "reboot", host: "6.1.0", time: 1_699_999_000 };
const INIT = { type: 1, pid: 1, line: "~", user: "runlevel", host: "", time: 1_699_999_001 };

describe("utmp records", () => {
  it("decodes the fields of a record, stopping strings at their NUL", () => {
    expect(parseUtmpRecord(utmp(LOGIN), 0, true)).toEqual({ type: 7, pid: 4242, line: "pts/0", user: "alice", host: "203.0.113.9", time: 1_700_000_000 });
  });

  it("keeps a field that fills its whole width", () => {
    const user = "u".repeat(32);
    expect(parseUtmpRecord(utmp({ ...LOGIN, user }), 0, true).user).toBe(user);
  });

  describe("readUtmpFile", () => {
    let host: FakeHost;
    afterEach(() => host.remove());

    it("reads records across chunk boundaries and ignores a trailing partial record", () => {
      host = fakeHost();
      const records = Array.from({ length: 600 }, (_, i) => ({ ...LOGIN, pid: i + 2 }));
      const file = host.write("/var/log/wtmp", Buffer.concat([...records.map(utmp), Buffer.alloc(100)]));
      const read = [...readUtmpFile(file)];
      expect(read).toHaveLength(600);
      expect(read.map((r) => r.pid)).toEqual(records.map((r) => r.pid));
    });

    it("yields nothing for a missing file", () => {
      host = fakeHost();
      expect([...readUtmpFile(`${host.root}/nope`)]).toEqual([]);
    });
  });
});

describe("last and logged_in_users", () => {
  let host: FakeHost;
  afterEach(() => host.remove());

  it("last keeps logins and logouts of wtmp with osquery's type names", () => {
    host = fakeHost();
    host.write("/var/log/wtmp", Buffer.concat([BOOT, LOGIN, LOGOUT].map(utmp)));
    expect([...lastTable.rows(host.ctx(), NO_CONSTRAINTS)]).toEqual([
      { username: "alice", tty: "pts/0", pid: 4242, type: 7, type_name: "user-process", time: 1_700_000_000, host: "203.0.113.9" },
      { username: "", tty: "pts/0", pid: 4242, type: 8, type_name: "dead-process", time: 1_700_000_600, host: "" },
    ]);
  });

  it("logged_in_users names every utmp entry type and skips init's own (pid 1)", () => {
    host = fakeHost();
    host.write("/var/run/utmp", Buffer.concat([INIT, BOOT, LOGIN].map(utmp)));
    expect([...loggedInUsersTable.rows(host.ctx(), NO_CONSTRAINTS)]).toEqual([
      { type: "boot_time", user: "reboot", tty: "~", host: "6.1.0", time: 1_699_999_000, pid: 0 },
      { type: "user", user: "alice", tty: "pts/0", host: "203.0.113.9", time: 1_700_000_000, pid: 4242 },
    ]);
  });

  it("answers no rows without utmp or wtmp", () => {
    host = fakeHost();
    expect([...lastTable.rows(host.ctx(), NO_CONSTRAINTS)]).toEqual([]);
    expect([...loggedInUsersTable.rows(host.ctx(), NO_CONSTRAINTS)]).toEqual([]);
  });
});
