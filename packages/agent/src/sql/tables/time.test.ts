import { describe, expect, it } from "vitest";
import { timeRow } from "./time.js";

describe("timeRow", () => {
  it("gives every field of the instant in UTC, with osquery's text formats", () => {
    expect(timeRow(Date.UTC(2026, 10, 8, 5, 4, 3, 999), "CET")).toEqual({
      weekday: "Sunday",
      year: 2026,
      month: 11,
      day: 8,
      hour: 5,
      minutes: 4,
      seconds: 3,
      timezone: "UTC",
      local_timezone: "CET",
      unix_time: Math.floor(Date.UTC(2026, 10, 8, 5, 4, 3) / 1000),
      timestamp: "Sun Nov  8 05:04:03 2026 UTC",
      datetime: "2026-11-08T05:04:03Z",
      iso_8601: "2026-11-08T05:04:03Z",
    });
  });
});
