import { createHash } from "node:crypto";
import { closeSync, lstatSync, openSync, readFileSync, readlinkSync, readSync, statSync, type BigIntStats } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { defineTable, type ScanConstraints, type TableContext } from "../table-def.js";
import { candidatePaths } from "./file-patterns.js";
import { isVanishedError } from "./proc.js";

/** Bytes read per call while hashing: large enough to be quick, small enough to stay within a worker's memory bound. */
const HASH_CHUNK_BYTES = 1 << 20;

/** osquery's `type` of a file from its mode. */
function fileType(s: BigIntStats): string {
  if (s.isFile()) return "regular";
  if (s.isDirectory()) return "directory";
  if (s.isSymbolicLink()) return "symlink";
  if (s.isCharacterDevice()) return "character";
  if (s.isBlockDevice()) return "block";
  if (s.isFIFO()) return "fifo";
  if (s.isSocket()) return "socket";
  return "unknown";
}

/** lstat and (following links) stat of a host path; undefined when it does not exist or is not ours to see. */
function statBoth(hostPath: string): { l: BigIntStats; s: BigIntStats } | undefined {
  try {
    const l = lstatSync(hostPath, { bigint: true });
    let s = l;
    if (l.isSymbolicLink()) {
      try {
        s = statSync(hostPath, { bigint: true });
      } catch {
        // A dangling link: describe the link itself.
      }
    }
    return { l, s };
  } catch (err) {
    if (isVanishedError(err)) return undefined;
    throw err;
  }
}

function* scanPaths(ctx: TableContext, scan: ScanConstraints): Generator<{ path: string; directory: string; host: string }> {
  for (const c of candidatePaths(scan, (p) => ctx.hostPath(p))) {
    yield { path: c.path, directory: c.directory ?? dirname(c.path), host: ctx.hostPath(c.path) };
  }
}

/** `file`: stat() of the paths a query names (osquery's required path or directory). */
export const fileTable = defineTable({
  name: "file",
  description: "Attributes of the files a query names: `path` or `directory` with =, IN or LIKE (% one level, %% any depth).",
  platforms: ["linux", "darwin", "freebsd", "openbsd", "netbsd", "sunos", "aix"],
  platformNote: "it reads POSIX file attributes",
  constraints: ["path", "directory"],
  columns: [
    { name: "path", type: "TEXT", description: "Absolute file path (required: this or directory)" },
    { name: "directory", type: "TEXT", description: "Directory of the file(s) (required: this or path)" },
    { name: "filename", type: "TEXT", description: "Name portion of the path" },
    { name: "inode", type: "INTEGER", description: "Filesystem inode number" },
    { name: "uid", type: "INTEGER", description: "Owning user id" },
    { name: "gid", type: "INTEGER", description: "Owning group id" },
    { name: "mode", type: "TEXT", description: "Permission bits, octal (e.g. 0644)" },
    { name: "device", type: "INTEGER", description: "Device id of a device file (rdev), else 0" },
    { name: "size", type: "INTEGER", description: "Size in bytes" },
    { name: "block_size", type: "INTEGER", description: "Block size of the file system" },
    { name: "atime", type: "INTEGER", description: "Last access time, Unix seconds" },
    { name: "mtime", type: "INTEGER", description: "Last modification time, Unix seconds" },
    { name: "ctime", type: "INTEGER", description: "Last status change time, Unix seconds" },
    { name: "btime", type: "INTEGER", description: "Birth (creation) time, Unix seconds; 0 when the file system does not record it" },
    { name: "hard_links", type: "INTEGER", description: "Number of hard links" },
    { name: "symlink", type: "INTEGER", description: "1 if the path is a symbolic link, else 0" },
    { name: "type", type: "TEXT", description: "regular, directory, symlink, character, block, fifo, socket or unknown (of the link's target when it resolves)" },
    { name: "symlink_target_path", type: "TEXT", description: "Target of a symbolic link, else empty" },
  ],
  *rows(ctx, scan) {
    for (const { path, directory, host } of scanPaths(ctx, scan)) {
      const st = statBoth(host);
      if (st === undefined) continue;
      const { l, s } = st;
      let target = "";
      if (l.isSymbolicLink()) {
        try {
          target = resolve(dirname(path), readlinkSync(host));
        } catch {
          target = "";
        }
      }
      yield {
        path,
        directory,
        filename: basename(path),
        inode: s.ino,
        uid: s.uid,
        gid: s.gid,
        mode: `0${(Number(s.mode) & 0o7777).toString(8).padStart(3, "0")}`,
        device: s.rdev,
        size: s.size,
        block_size: s.blksize,
        atime: s.atimeMs / 1000n,
        mtime: s.mtimeMs / 1000n,
        ctime: s.ctimeMs / 1000n,
        btime: s.birthtimeMs / 1000n,
        hard_links: s.nlink,
        symlink: l.isSymbolicLink() ? 1 : 0,
        type: fileType(s),
        symlink_target_path: target,
      };
    }
  },
});

/** MD5, SHA-1 and SHA-256 of a regular file in one pass; undefined when it vanished or may not be read. */
export function hashFile(hostPath: string): { md5: string; sha1: string; sha256: string } | undefined {
  let fd: number;
  try {
    fd = openSync(hostPath, "r");
  } catch (err) {
    if (isVanishedError(err) || (err as NodeJS.ErrnoException).code === "EISDIR") return undefined;
    throw err;
  }
  try {
    const hashes = [createHash("md5"), createHash("sha1"), createHash("sha256")] as const;
    const buf = Buffer.allocUnsafe(HASH_CHUNK_BYTES);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      for (const h of hashes) h.update(buf.subarray(0, n));
    }
    return { md5: hashes[0].digest("hex"), sha1: hashes[1].digest("hex"), sha256: hashes[2].digest("hex") };
  } catch (err) {
    if (isVanishedError(err)) return undefined;
    throw err;
  } finally {
    closeSync(fd);
  }
}

/** `hash`: digests of the regular files a query names. */
export const hashTable = defineTable({
  name: "hash",
  description: "MD5, SHA-1 and SHA-256 of the regular files a query names: `path` or `directory` with =, IN or LIKE.",
  platforms: ["linux", "darwin", "freebsd", "openbsd", "netbsd", "sunos", "aix"],
  platformNote: "it reads POSIX files",
  constraints: ["path", "directory"],
  columns: [
    { name: "path", type: "TEXT", description: "Path of the file (required: this or directory)" },
    { name: "directory", type: "TEXT", description: "Directory of the file(s) (required: this or path)" },
    { name: "md5", type: "TEXT", description: "MD5 of the content, lower-case hex" },
    { name: "sha1", type: "TEXT", description: "SHA-1 of the content, lower-case hex" },
    { name: "sha256", type: "TEXT", description: "SHA-256 of the content, lower-case hex" },
  ],
  *rows(ctx, scan) {
    for (const { path, directory, host } of scanPaths(ctx, scan)) {
      // Only regular files are hashed (a FIFO or a device could block or never end).
      const st = statBoth(host);
      if (st === undefined || !st.s.isFile()) continue;
      const digests = hashFile(host);
      if (digests !== undefined) yield { path, directory, ...digests };
    }
  },
});

/** `file_lines`: the lines of the files a query names (Fleet's extension table). */
export const fileLinesTable = defineTable({
  name: "file_lines",
  description: "Lines of the text files a query names: `path` with =, IN or LIKE (Fleet's extension table).",
  note: "from Fleet's osquery extension (fleetd), not osquery core",
  constraints: ["path"],
  columns: [
    { name: "path", type: "TEXT", description: "Path of the file (required)" },
    { name: "line", type: "TEXT", description: "One line, without its newline" },
  ],
  *rows(ctx, scan) {
    for (const { path, host } of scanPaths(ctx, scan)) {
      const st = statBoth(host);
      if (st === undefined || !st.s.isFile()) continue;
      let text: string;
      try {
        text = readFileSync(host, "utf8");
      } catch (err) {
        if (isVanishedError(err)) continue;
        throw err;
      }
      const lines = text.split("\n");
      if (lines.at(-1) === "") lines.pop();
      for (const line of lines) yield { path, line: line.replace(/\r$/, "") };
    }
  },
});

/** Flattens parsed JSON into (parent, key, value) leaves; nested keys are joined to their parent with "/". */
export function* flattenJson(value: unknown, parent = ""): Generator<{ parent: string; key: string; value: string }> {
  if (value !== null && typeof value === "object") {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (v !== null && typeof v === "object") yield* flattenJson(v, parent === "" ? k : `${parent}/${k}`);
      else yield { parent, key: k, value: v === null ? "null" : String(v) };
    }
  }
}

/** `parse_json`: the leaves of the JSON files a query names (Fleet's extension table). */
export const parseJsonTable = defineTable({
  name: "parse_json",
  description: "Key/value leaves of the JSON files a query names: `path` with =, IN or LIKE (Fleet's extension table).",
  note: "from Fleet's osquery extension (fleetd), not osquery core",
  constraints: ["path"],
  columns: [
    { name: "path", type: "TEXT", description: "Path of the JSON file (required)" },
    { name: "key", type: "TEXT", description: "Key of a leaf value (array index for array items)" },
    { name: "value", type: "TEXT", description: "The leaf value as text" },
    { name: "parent", type: "TEXT", description: "Keys leading to the leaf, joined with /; empty at the top" },
  ],
  *rows(ctx, scan) {
    for (const { path, host } of scanPaths(ctx, scan)) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(readFileSync(host, "utf8"));
      } catch {
        continue; // absent, unreadable or not JSON: no rows for that file
      }
      for (const leaf of flattenJson(parsed)) yield { path, key: leaf.key, value: leaf.value, parent: leaf.parent };
    }
  },
});
