import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { defineTable } from "../table-def.js";
import { listDir } from "./file-patterns.js";
import { isVanishedError } from "./proc.js";

/** Reads a firmware file, or undefined when it is absent or readable by root only (an agent not run as root). */
function readFirmware(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (err) {
    if (isVanishedError(err) || (err as NodeJS.ErrnoException).code === "EISDIR") return undefined;
    throw err;
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** `acpi_tables`: the firmware's ACPI tables from /sys/firmware/acpi/tables (root may read their content). */
export const acpiTablesTable = defineTable({
  name: "acpi_tables",
  description: "ACPI tables of the firmware, from /sys/firmware/acpi/tables (their content is readable by root only).",
  platforms: ["linux"],
  platformNote: "it reads /sys/firmware/acpi",
  note: "a table the agent may not read is listed with null size and md5",
  columns: [
    { name: "name", type: "TEXT", description: "ACPI table name (APIC, DSDT, FACP, ...)" },
    { name: "size", type: "INTEGER", description: "Size of the table in bytes; null when not readable" },
    { name: "md5", type: "TEXT", description: "MD5 of the table content; null when not readable" },
  ],
  *rows() {
    const dir = "/sys/firmware/acpi/tables";
    for (const name of listDir(dir).sort()) {
      if (isDirectory(`${dir}/${name}`)) continue; // data/ and dynamic/ hold further tables of other kinds
      const data = readFirmware(`${dir}/${name}`);
      yield { name, size: data?.length ?? null, md5: data === undefined ? null : createHash("md5").update(data).digest("hex") };
    }
  },
});

/** SMBIOS structure types osquery names (DMTF DSP0134). */
const SMBIOS_TYPES: Readonly<Record<number, string>> = {
  0: "BIOS Information", 1: "System Information", 2: "Base Board or Module Information", 3: "System Enclosure or Chassis",
  4: "Processor Information", 7: "Cache Information", 8: "Port Connector Information", 9: "System Slots",
  11: "OEM Strings", 12: "System Configuration Options", 13: "BIOS Language Information", 16: "Physical Memory Array",
  17: "Memory Device", 19: "Memory Array Mapped Address", 32: "System Boot Information", 127: "End-of-Table",
};

/** `smbios_tables`: SMBIOS structures from /sys/firmware/dmi/entries (their raw content is readable by root only). */
export const smbiosTablesTable = defineTable({
  name: "smbios_tables",
  description: "SMBIOS (DMI) structures of the firmware, from /sys/firmware/dmi/entries (zero rows where absent).",
  platforms: ["linux"],
  platformNote: "it reads /sys/firmware/dmi",
  columns: [
    { name: "number", type: "INTEGER", description: "Entry number, in table order" },
    { name: "type", type: "INTEGER", description: "Structure type" },
    { name: "description", type: "TEXT", description: "Name of the structure type" },
    { name: "handle", type: "INTEGER", description: "Structure handle" },
    { name: "header_size", type: "INTEGER", description: "Formatted area size in bytes" },
    { name: "size", type: "INTEGER", description: "Whole structure size in bytes (strings included); null when not readable" },
    { name: "md5", type: "TEXT", description: "MD5 of the structure; null when not readable" },
  ],
  *rows() {
    const dir = "/sys/firmware/dmi/entries";
    const entries = listDir(dir)
      .map((name) => ({ name, m: /^(\d+)-(\d+)$/.exec(name) }))
      .filter((e) => e.m !== null)
      .sort((a, b) => Number(a.m?.[1]) - Number(b.m?.[1]) || Number(a.m?.[2]) - Number(b.m?.[2]));
    let number = 0;
    for (const { name, m } of entries) {
      const type = Number(m?.[1]);
      const text = (file: string): string | undefined => readFirmware(`${dir}/${name}/${file}`)?.toString("utf8").trim();
      const raw = readFirmware(`${dir}/${name}/raw`);
      yield {
        number: number++,
        type,
        description: SMBIOS_TYPES[type] ?? "",
        handle: text("handle") ?? null,
        header_size: text("length") ?? null,
        size: raw?.length ?? null,
        md5: raw === undefined ? null : createHash("md5").update(raw).digest("hex"),
      };
    }
  },
});
