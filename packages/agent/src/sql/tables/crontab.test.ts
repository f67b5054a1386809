import { afterEach, describe, expect, it } from "vitest";
import { NO_CONSTRAINTS } from "../table-def.js";
import { crontabTable, parseCrontab } from "./crontab.js";
import { fakeHost, type FakeHost } from "../../../test/fake-host.js";

describe("parseCrontab", () => {
  it("reads timed jobs and @events, skipping comments and environment lines", () => {
    const text = "SHELL=/bin/sh\nMAILTO = root\n# m h dom mon dow command\n*/5 * * * *\t/usr/bin/backup --all  --quiet\n@reboot /usr/local/bin/start\n0 0 * * 0\n@daily\n";
    expect(parseCrontab(text)).toEqual([
      { event: null, minute: "*/5", hour: "*", day_of_month: "*", month: "*", day_of_week: "*", command: "/usr/bin/backup --all --quiet" },
      { event: "@reboot", minute: null, hour: null, day_of_month: null, month: null, day_of_week: null, command: "/usr/local/bin/start" },
    ]);
  });
});

describe("crontab table", () => {
  let host: FakeHost;
  afterEach(() => host.remove());

  it("reads /etc/crontab, /etc/cron.d and user crontabs, skipping hidden files and directories", () => {
    host = fakeHost();
    host.write("/etc/crontab", "17 * * * * root cd / && run-parts --report /etc/cron.hourly\n");
    host.write("/etc/cron.d/e2scrub", "30 3 * * 0 root /sbin/e2scrub_all\n");
    host.write("/etc/cron.d/.placeholder", "1 1 1 1 1 never\n");
    host.write("/var/spool/cron/crontabs/alice", "0 9 * * 1-5 /home/alice/standup.sh\n");
    const rows = [...crontabTable.rows(host.ctx(), NO_CONSTRAINTS)];
    expect(rows.map((r) => [r.path, r.command])).toEqual([
      ["/etc/crontab", "root cd / && run-parts --report /etc/cron.hourly"],
      ["/etc/cron.d/e2scrub", "root /sbin/e2scrub_all"],
      ["/var/spool/cron/crontabs/alice", "/home/alice/standup.sh"],
    ]);
  });

  it("answers no rows on a host without cron", () => {
    host = fakeHost();
    expect([...crontabTable.rows(host.ctx(), NO_CONSTRAINTS)]).toEqual([]);
  });
});
