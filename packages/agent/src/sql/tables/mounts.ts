import { statfsSync } from "node:fs";
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
  size: bigint;
  free: bigint;
  available: bigint;
  used: bigint;
  inodes: bigint;
  inodes_free: bigint;
}

/** statfs() of one mount point in bytes, or null when it is a network file system or cannot be read. */
function sizesOf(entry: MountEntry): Sizes | null {
  if (NETWORK_FS.test(entry.type)) return null;
  try {
    const s = statfsSync(entry.path, { bigint: true });
    return {
      size: s.blocks * s.bsize,
      free: s.bfree * s.bsize,
      available: s.bavail * s.bsize,
      used: (s.blocks - s.bfree) * s.bsize,
      inodes: s.files,
      inodes_free: s.ffree,
    };
  } catch {
    // A mount point hidden by a later mount, or one we may not enter: the mount is real, its sizes unknown.
    return null;
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
    { name: "path", type: "TEXT", description: "Mount point" },
    { name: "type", type: "TEXT", description: "File system type (ext4, xfs, tmpfs, ...)" },
    { name: "options", type: "TEXT", description: "Mount options, comma-separated" },
    { name: "size", type: "INTEGER", description: "Total size in bytes; null for network file systems or when statfs fails" },
    { name: "free", type: "INTEGER", description: "Free bytes, including those reserved for root" },
    { name: "available", type: "INTEGER", description: "Bytes available to unprivileged users" },
    { name: "used", type: "INTEGER", description: "Used bytes (size - free)" },
    { name: "inodes", type: "INTEGER", description: "Total inodes" },
    { name: "inodes_free", type: "INTEGER", description: "Free inodes" },
  ],
  *rows() {
    for (const entry of parseMounts(readRequired("/proc/self/mounts", "mounts"))) {
      const s = sizesOf(entry);
      yield {
        ...entry,
        size: s?.size ?? null,
        free: s?.free ?? null,
        available: s?.available ?? null,
        used: s?.used ?? null,
        inodes: s?.inodes ?? null,
        inodes_free: s?.inodes_free ?? null,
      };
    }
  },
});
