import { realpathSync, statfsSync } from "node:fs";
import { defineTable } from "../table-def.js";
import { readRequired } from "./proc.js";

/**
 * File systems whose statfs() can block for minutes when their server is gone (an NFS hard mount
 * sleeps uninterruptibly). Their sizes are reported as null rather than risk hanging the worker.
 */
const NETWORK_FS = /^(nfs\d?|cifs|smb\d?|smbfs|ncpfs|afs|ceph|glusterfs|lustre|9p|davfs|fuse\.(sshfs|s3fs|rclone|glusterfs|ceph))$/;

/** One line of /proc/self/mounts. */
export interface MountEntry {
  device: string;
  path: string;
  type: string;
  options: string;
}

/** Undoes the octal escapes the kernel writes for space, tab, newline and backslash (`\040`, `\011`, ...). */
export function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Parses /proc/self/mounts (fstab format: device, path, type, options, dump, pass). */
export function parseMounts(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(" ");
    if (f.length < 4) continue;
    entries.push({
      device: unescapeMountField(f[0] as string),
      path: unescapeMountField(f[1] as string),
      type: f[2] as string,
      options: f[3] as string,
    });
  }
  return entries;
}

interface Sizes {
  blocks_size: bigint;
  blocks: bigint;
  blocks_free: bigint;
  blocks_available: bigint;
  inodes: bigint;
  inodes_free: bigint;
}

/** statfs() of one mount point in blocks, or null when it is a network file system or cannot be read. */
function sizesOf(entry: MountEntry): Sizes | null {
  if (NETWORK_FS.test(entry.type)) return null;
  try {
    const s = statfsSync(entry.path, { bigint: true });
    return { blocks_size: s.bsize, blocks: s.blocks, blocks_free: s.bfree, blocks_available: s.bavail, inodes: s.files, inodes_free: s.ffree };
  } catch {
    // A mount point hidden by a later mount, or one we may not enter: the mount is real, its sizes unknown.
    return null;
  }
}

/** The device's canonical path (a /dev/mapper link resolved), or the device as written when it is no path. */
function deviceAlias(device: string): string {
  if (!device.startsWith("/")) return device;
  try {
    return realpathSync(device);
  } catch {
    return device;
  }
}

/** `mounts`: mounted file systems with their sizes. */
export const mountsTable = defineTable({
  name: "mounts",
  description: "Mounted file systems with their sizes, from /proc/self/mounts and statfs().",
  platforms: ["linux"],
  platformNote: "it reads /proc/self/mounts",
  columns: [
    { name: "device", type: "TEXT", description: "Mounted device or source (e.g. /dev/sda1, tmpfs)" },
    { name: "device_alias", type: "TEXT", description: "The device's canonical path (symbolic links resolved)" },
    { name: "path", type: "TEXT", description: "Mount point" },
    { name: "type", type: "TEXT", description: "File system type (ext4, xfs, tmpfs, ...)" },
    { name: "blocks_size", type: "INTEGER", description: "Block size in bytes; null for network file systems or when statfs fails" },
    { name: "blocks", type: "INTEGER", description: "Total blocks" },
    { name: "blocks_free", type: "INTEGER", description: "Free blocks, including those reserved for root" },
    { name: "blocks_available", type: "INTEGER", description: "Blocks available to unprivileged users" },
    { name: "inodes", type: "INTEGER", description: "Total inodes" },
    { name: "inodes_free", type: "INTEGER", description: "Free inodes" },
    { name: "flags", type: "TEXT", description: "Mount options, comma-separated" },
  ],
  *rows() {
    for (const entry of parseMounts(readRequired("/proc/self/mounts", "mounts"))) {
      const s = sizesOf(entry);
      yield {
        device: entry.device,
        device_alias: deviceAlias(entry.device),
        path: entry.path,
        type: entry.type,
        blocks_size: s?.blocks_size ?? null,
        blocks: s?.blocks ?? null,
        blocks_free: s?.blocks_free ?? null,
        blocks_available: s?.blocks_available ?? null,
        inodes: s?.inodes ?? null,
        inodes_free: s?.inodes_free ?? null,
        flags: entry.options,
      };
    }
  },
});
