import { defineTable } from "../table-def.js";
import { listDir, readHostText } from "./host-files.js";

/** The system crontab and the directories osquery reads crontabs from (crontab.cpp). */
const SYSTEM_CRONTAB = "/etc/crontab";
const CRON_DIRS = ["/etc/cron.d", "/var/spool/cron", "/var/spool/cron/crontabs"];

/** One job line of a crontab. */
export interface CronJob {
  event: string | null;
  minute: string | null;
  hour: string | null;
  day_of_month: string | null;
  month: string | null;
  day_of_week: string | null;
  command: string;
}

/**
 * Parses a crontab the way osquery does: one row per non-comment line, five time fields then the
 * command (for /etc/crontab and /etc/cron.d the user column stays at the head of the command, as in
 * osquery), or an `@event` (`@reboot`, `@daily`, ...) then the command. Lines without a command and
 * environment assignments (`MAILTO=root`, `PATH = /bin`) are skipped: they schedule nothing.
 */
export function parseCrontab(text: string): CronJob[] {
  const jobs: CronJob[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (/^[A-Za-z_][A-Za-z0-9_]*\s*=/.test(line)) continue;
    const f = line.split(/[ \t]+/);
    if (f[0]!.startsWith("@")) {
      const command = f.slice(1).join(" ");
      if (command === "") continue;
      jobs.push({ event: f[0]!, minute: null, hour: null, day_of_month: null, month: null, day_of_week: null, command });
      continue;
    }
    const command = f.slice(5).join(" ");
    if (command === "") continue;
    jobs.push({ event: null, minute: f[0]!, hour: f[1]!, day_of_month: f[2]!, month: f[3]!, day_of_week: f[4]!, command });
  }
  return jobs;
}

/** `crontab`: scheduled jobs of the system and user crontabs. */
export const crontabTable = defineTable({
  name: "crontab",
  description: "Jobs of /etc/crontab, /etc/cron.d/* and the user crontabs of /var/spool/cron (osquery: crontab).",
  platforms: ["linux"],
  platformNote: "it reads cron's files",
  columns: [
    { name: "event", type: "TEXT", description: "The @event of the job (@reboot, @daily, ...); null for a timed job" },
    { name: "minute", type: "TEXT", description: "Minute field" },
    { name: "hour", type: "TEXT", description: "Hour field" },
    { name: "day_of_month", type: "TEXT", description: "Day-of-month field" },
    { name: "month", type: "TEXT", description: "Month field" },
    { name: "day_of_week", type: "TEXT", description: "Day-of-week field" },
    { name: "command", type: "TEXT", description: "Command (in system crontabs, preceded by the user it runs as)" },
    { name: "path", type: "TEXT", description: "Crontab file the job comes from" },
  ],
  *rows(ctx) {
    const files = [SYSTEM_CRONTAB];
    for (const dir of CRON_DIRS) {
      // cron itself ignores editor backups and hidden files (.placeholder); so does this table.
      for (const name of listDir(ctx.hostPath(dir))) if (!name.startsWith(".") && !name.endsWith("~")) files.push(`${dir}/${name}`);
    }
    for (const path of files) {
      const text = readHostText(ctx, path);
      // A directory (crontabs inside /var/spool/cron) reads as EISDIR: it is not a crontab.
      if (text === undefined) continue;
      for (const job of parseCrontab(text)) yield { ...job, path };
    }
  },
});
