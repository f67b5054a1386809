import { defineTable } from "../table-def.js";

const WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

const pad = (n: number): string => String(n).padStart(2, "0");

/** The row of the `time` table for the instant `now` (ms since the epoch), in UTC as osquery gives it. */
export function timeRow(now: number, localTimezone: string) {
  const d = new Date(Math.floor(now / 1000) * 1000);
  const hms = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  const iso = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${hms}Z`;
  return {
    weekday: WEEKDAYS[d.getUTCDay()]!,
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minutes: d.getUTCMinutes(),
    seconds: d.getUTCSeconds(),
    timezone: "UTC",
    local_timezone: localTimezone,
    unix_time: Math.floor(now / 1000),
    // osquery's log timestamp: asctime() of UTC (day padded with a space) and " UTC", e.g. "Sat Nov  8 05:40:01 2026 UTC".
    timestamp: `${WEEKDAYS[d.getUTCDay()]!.slice(0, 3)} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, " ")} ${hms} ${d.getUTCFullYear()} UTC`,
    datetime: iso,
    iso_8601: iso,
  };
}

/** The host zone's abbreviation at `at` as strftime's %Z gives it where Intl knows one (UTC, CET, PST), else GMT±h. */
function localZoneAbbreviation(at: Date): string {
  const part = new Intl.DateTimeFormat("en-US", { timeZoneName: "short" }).formatToParts(at).find((p) => p.type === "timeZoneName");
  return part?.value ?? "UTC";
}

/** `time`: the host's clock, one row. */
export const timeTable = defineTable({
  name: "time",
  description: "The host's current date and time in UTC, one row (osquery: time).",
  columns: [
    { name: "weekday", type: "TEXT", description: "Day of the week (Monday, ...)" },
    { name: "year", type: "INTEGER", description: "Year" },
    { name: "month", type: "INTEGER", description: "Month, 1-12" },
    { name: "day", type: "INTEGER", description: "Day of the month, 1-31" },
    { name: "hour", type: "INTEGER", description: "Hour, 0-23" },
    { name: "minutes", type: "INTEGER", description: "Minutes, 0-59" },
    { name: "seconds", type: "INTEGER", description: "Seconds, 0-59" },
    { name: "timezone", type: "TEXT", description: "Always UTC: every field is in UTC" },
    { name: "local_timezone", type: "TEXT", description: "The host's own time zone, abbreviated (UTC, PST; GMT+1 where no abbreviation is known)" },
    { name: "unix_time", type: "INTEGER", description: "Unix time, seconds" },
    { name: "timestamp", type: "TEXT", description: "Log-style timestamp, e.g. Sat Nov 28 05:40:01 2026 UTC" },
    { name: "datetime", type: "TEXT", description: "ISO 8601 date and time, e.g. 2026-11-28T05:40:01Z" },
    { name: "iso_8601", type: "TEXT", description: "ISO 8601 date and time (same as datetime)" },
  ],
  *rows() {
    yield timeRow(Date.now(), localZoneAbbreviation(new Date()));
  },
});
