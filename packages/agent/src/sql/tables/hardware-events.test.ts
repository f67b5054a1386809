import { describe, expect, it } from "vitest";
import { fakeHost } from "../../../test/fake-host.js";
import { hardwareEventsTable } from "./hardware-events.js";

describe("hardware_events", () => {
  it("has osquery's columns and no rows: the agent records no events", () => {
    expect(hardwareEventsTable.columns.map((c) => c.name)).toEqual([
      "action",
      "path",
      "type",
      "driver",
      "vendor",
      "vendor_id",
      "model",
      "model_id",
      "serial",
      "revision",
      "time",
      "eid",
    ]);
    const host = fakeHost();
    try {
      expect([...hardwareEventsTable.rows(host.ctx(), { equals: {}, likes: {} })]).toEqual([]);
    } finally {
      host.remove();
    }
  });
});
