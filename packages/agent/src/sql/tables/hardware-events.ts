import { defineTable } from "../table-def.js";

/**
 * `hardware_events`: osquery's evented table of udev device events. The agent answers live queries and
 * runs no event pipeline, so, like osquery with events disabled, the table exists and has no rows.
 */
export const hardwareEventsTable = defineTable({
  name: "hardware_events",
  description: "Hardware (PCI, USB, HID) add/remove/change events from udev: none, since the agent records no events (zero rows, as osquery with events disabled) (osquery: hardware_events).",
  note: "always empty: the agent has no event pipeline (osquery too answers nothing with events disabled); eid is an ordinary column here, hidden in osquery",
  columns: [
    { name: "action", type: "TEXT", description: "add, remove, change, ..." },
    { name: "path", type: "TEXT", description: "Device node path (optional)" },
    { name: "type", type: "TEXT", description: "Type of hardware and of the event" },
    { name: "driver", type: "TEXT", description: "Driver claiming the device" },
    { name: "vendor", type: "TEXT", description: "Vendor" },
    { name: "vendor_id", type: "TEXT", description: "Vendor id, hex" },
    { name: "model", type: "TEXT", description: "Model" },
    { name: "model_id", type: "TEXT", description: "Model id, hex" },
    { name: "serial", type: "TEXT", description: "Serial number (optional)" },
    { name: "revision", type: "TEXT", description: "Revision (optional)" },
    { name: "time", type: "INTEGER", description: "Time of the event, Unix seconds" },
    { name: "eid", type: "TEXT", description: "Event id" },
  ],
  *rows() {
    // Deliberately empty: see the description.
  },
});
