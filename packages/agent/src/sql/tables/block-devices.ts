import { defineTable, type TableContext } from "../table-def.js";
import { listDir, readHostText } from "./host-files.js";
import { readTextIfPresent } from "./proc.js";
import { attr, numberOrNull, parseKeyValues } from "./sysfs.js";

/** What udev recorded about device `majMin` (blkid's ID_FS_* among it), from /run/udev/data; empty when udev is absent. */
function udevProperties(ctx: TableContext, kind: "b" | "c", majMin: string | null): Map<string, string> {
  if (majMin === null) return new Map();
  const text = readHostText(ctx, `/run/udev/data/${kind}${majMin}`);
  return text === undefined ? new Map() : parseKeyValues(text, "E:");
}

/** One block device or partition of /sys/block. */
export interface BlockDevice {
  name: string;
  parent: string;
  vendor: string;
  model: string;
  serial: string;
  size: number | null;
  block_size: number | null;
  uuid: string;
  type: string;
  label: string;
  /** The dm-crypt mapping type (LUKS1, LUKS2, PLAIN, ...) when the device is an active dm-crypt target. */
  cryptType: string | null;
}

/**
 * The dm-crypt type of a device-mapper device from its dm/uuid, which cryptsetup sets to
 * `CRYPT-<TYPE>-<uuid>-<name>` (e.g. CRYPT-LUKS2-…); null for other targets (LVM, multipath).
 */
export function cryptTypeFromDmUuid(dmUuid: string | null): string | null {
  const m = /^CRYPT-([A-Za-z0-9_]+)/.exec(dmUuid ?? "");
  return m === null ? null : (m[1] as string);
}

/** Reads one device directory of /sys/block (a disk, or a partition inside one). */
function readBlockDevice(ctx: TableContext, sys: string, name: string, parent: string): BlockDevice {
  const majMin = attr(`${sys}/dev`);
  const udev = udevProperties(ctx, "b", majMin);
  // Partitions carry no device/ link: vendor and model belong to the disk.
  const disk = parent === "" ? sys : sys.slice(0, sys.lastIndexOf("/"));
  return {
    name: `/dev/${name}`,
    parent: parent === "" ? "" : `/dev/${parent}`,
    vendor: attr(`${disk}/device/vendor`) ?? udev.get("ID_VENDOR") ?? "",
    model: attr(`${disk}/device/model`) ?? udev.get("ID_MODEL") ?? "",
    serial: attr(`${disk}/device/serial`) ?? attr(`${disk}/serial`) ?? udev.get("ID_SERIAL_SHORT") ?? "",
    size: numberOrNull(attr(`${sys}/size`)),
    block_size: numberOrNull(attr(`${disk}/queue/logical_block_size`)),
    uuid: udev.get("ID_FS_UUID") ?? "",
    type: udev.get("ID_FS_TYPE") ?? "",
    label: udev.get("ID_FS_LABEL") ?? "",
    cryptType: cryptTypeFromDmUuid(attr(`${sys}/dm/uuid`)),
  };
}


/** Every disk of `sysBlock` (/sys/block) followed by its partitions, as lsblk lists them. */
export function readBlockDevices(ctx: TableContext, sysBlock = "/sys/block"): BlockDevice[] {
  const devices: BlockDevice[] = [];
  for (const name of listDir(sysBlock)) {
    const sys = `${sysBlock}/${name}`;
    devices.push(readBlockDevice(ctx, sys, name, ""));
    for (const part of listDir(sys)) {
      if (readTextIfPresent(`${sys}/${part}/partition`) !== undefined) devices.push(readBlockDevice(ctx, `${sys}/${part}`, part, name));
    }
  }
  return devices;
}

/** The block devices of this host, memoised per query (block_devices and disk_encryption share them). */
function blockDevices(ctx: TableContext): BlockDevice[] {
  return ctx.memo("devices.sys-block", () => readBlockDevices(ctx));
}

/** disk_encryption's rows: a dm-crypt device is encrypted, a partition inherits its disk's status. */
export function encryptionRows(devices: readonly BlockDevice[]) {
  const byName = new Map(devices.map((d) => [d.name, d]));
  return devices.map((d) => {
    const crypt = d.cryptType ?? (d.parent === "" ? null : (byName.get(d.parent)?.cryptType ?? null));
    return {
      name: d.name,
      uuid: d.uuid,
      encrypted: crypt === null ? 0 : 1,
      type: crypt ?? "",
      encryption_status: crypt === null ? "not encrypted" : "encrypted",
    };
  });
}

/** `block_devices`: disks and partitions. */
export const blockDevicesTable = defineTable({
  name: "block_devices",
  description:
    "Block devices and their partitions from /sys/block; file-system UUID, type and label come from udev's database (/run/udev/data), empty where udev has not probed (osquery: block_devices).",
  platforms: ["linux"],
  platformNote: "it reads /sys/block",
  columns: [
    { name: "name", type: "TEXT", description: "Device node (/dev/sda, /dev/sda1, /dev/nvme0n1, ...)" },
    { name: "parent", type: "TEXT", description: "Disk of a partition; empty for a disk" },
    { name: "vendor", type: "TEXT", description: "Vendor string" },
    { name: "model", type: "TEXT", description: "Model string" },
    { name: "serial", type: "TEXT", description: "Serial number" },
    { name: "size", type: "INTEGER", description: "Size in 512-byte sectors (the kernel's unit, whatever the block size)" },
    { name: "block_size", type: "INTEGER", description: "Logical block size in bytes" },
    { name: "uuid", type: "TEXT", description: "File-system UUID" },
    { name: "type", type: "TEXT", description: "File-system or content type (ext4, xfs, crypto_LUKS, LVM2_member, ...)" },
    { name: "label", type: "TEXT", description: "File-system label" },
  ],
  *rows(ctx) {
    for (const { cryptType: _crypt, ...d } of blockDevices(ctx)) yield d;
  },
});

/** `disk_encryption`: whether each block device is a dm-crypt mapping, or a partition of one. */
export const diskEncryptionTable = defineTable({
  name: "disk_encryption",
  description:
    "Encryption status of each block device: dm-crypt mappings (device-mapper uuid CRYPT-*) are encrypted, partitions inherit their disk's status (osquery: disk_encryption).",
  platforms: ["linux"],
  platformNote: "it reads /sys/block",
  columns: [
    { name: "name", type: "TEXT", description: "Device node" },
    { name: "uuid", type: "TEXT", description: "File-system UUID" },
    { name: "encrypted", type: "INTEGER", description: "1 when encrypted, else 0" },
    {
      name: "type",
      type: "TEXT",
      description: "dm-crypt type (LUKS1, LUKS2, PLAIN, ...); osquery adds the cipher and mode, which only the device-mapper ioctl reveals",
    },
    { name: "encryption_status", type: "TEXT", description: "encrypted or not encrypted" },
  ],
  *rows(ctx) {
    yield* encryptionRows(blockDevices(ctx));
  },
});
