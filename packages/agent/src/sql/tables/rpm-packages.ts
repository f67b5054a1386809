import { readFileSync } from "node:fs";
import Database from "better-sqlite3";
import { CollectorError } from "../../errors.js";
import { defineTable } from "../table-def.js";
import { isVanishedError } from "./proc.js";

/** RPM header tags the table reads (rpmtag.h). */
const TAG = {
  sha1header: 269,
  name: 1000,
  version: 1001,
  release: 1002,
  epoch: 1003,
  installTime: 1008,
  size: 1009,
  vendor: 1011,
  group: 1016,
  arch: 1022,
  sourceRpm: 1044,
  longSize: 5009,
} as const;

/** RPM header data types (rpmtag.h). */
const TYPE = { int16: 3, int32: 4, int64: 5, string: 6, stringArray: 8, i18nString: 9 } as const;

/** The first value of each tag of an RPM header: numbers for integer types, text for string types. */
export type RpmHeader = Map<number, number | string>;

/**
 * Decodes an RPM header blob as rpmdb stores it (no lead, no magic): big-endian `il` (index entries)
 * and `dl` (data bytes), `il` 16-byte entries (tag, type, offset, count), then the data store. Only the
 * first value of each entry is kept, which is all a package row needs. Throws on a blob whose sizes do
 * not add up, so a corrupt record is never read past its end.
 */
export function parseRpmHeader(blob: Buffer): RpmHeader {
  if (blob.length < 8) throw new Error("rpm header shorter than its preamble");
  const il = blob.readUInt32BE(0);
  const dl = blob.readUInt32BE(4);
  const dataStart = 8 + il * 16;
  if (il > 0x10000 || dataStart + dl > blob.length) throw new Error("rpm header sizes exceed the blob");
  const data = blob.subarray(dataStart, dataStart + dl);
  const header: RpmHeader = new Map();
  for (let i = 0; i < il; i++) {
    const at = 8 + i * 16;
    const tag = blob.readUInt32BE(at);
    const type = blob.readUInt32BE(at + 4);
    const offset = blob.readInt32BE(at + 8);
    if (offset < 0 || offset >= data.length) continue;
    switch (type) {
      case TYPE.int16:
        if (offset + 2 <= data.length) header.set(tag, data.readUInt16BE(offset));
        break;
      case TYPE.int32:
        if (offset + 4 <= data.length) header.set(tag, data.readUInt32BE(offset));
        break;
      case TYPE.int64:
        if (offset + 8 <= data.length) header.set(tag, Number(data.readBigUInt64BE(offset)));
        break;
      case TYPE.string:
      case TYPE.stringArray:
      case TYPE.i18nString: {
        const end = data.indexOf(0, offset);
        header.set(tag, data.subarray(offset, end < 0 ? data.length : end).toString("utf8"));
        break;
      }
    }
  }
  return header;
}

const RPMDB_SQLITE = "/var/lib/rpm/rpmdb.sqlite";

function readIfPresent(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (err) {
    if (isVanishedError(err)) return undefined;
    throw new CollectorError("query_failed", `table rpm_packages: cannot read ${RPMDB_SQLITE}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Opens an in-memory copy of the rpmdb. Reading a copy takes no lock rpm could trip on and creates no
 * -wal/-shm file next to the database (this build of SQLite takes no `?immutable=1` URI). The header's
 * read/write format bytes are reset from WAL (2) to rollback (1), as an in-memory database cannot be
 * WAL; rpm checkpoints its WAL when it closes, so the main file holds every committed package.
 */
export function openImage(image: Buffer): Database.Database {
  if (image.length >= 20) {
    image[18] = 1;
    image[19] = 1;
  }
  try {
    return new Database(image, { readonly: true });
  } catch (err) {
    throw new CollectorError("query_failed", `table rpm_packages: ${RPMDB_SQLITE} is not a SQLite database: ${(err as Error).message}`, { cause: err });
  }
}

/** The decoded header of every record of the Packages table; a corrupt record is skipped, not fatal. */
function packageHeaders(db: Database.Database): RpmHeader[] {
  let stmt: Database.Statement;
  try {
    stmt = db.prepare("select blob from Packages");
  } catch (err) {
    throw new CollectorError("query_failed", `table rpm_packages: ${RPMDB_SQLITE} is not an rpmdb: ${(err as Error).message}`, { cause: err });
  }
  const headers: RpmHeader[] = [];
  for (const row of stmt.iterate() as IterableIterator<{ blob: unknown }>) {
    if (!Buffer.isBuffer(row.blob)) continue;
    try {
      headers.push(parseRpmHeader(row.blob));
    } catch {
      // One corrupt record does not hide the others.
    }
  }
  return headers;
}

/** `rpm_packages`: RPM's package database, when it is the SQLite rpmdb (RPM 4.16 and later). */
export const rpmPackagesTable = defineTable({
  name: "rpm_packages",
  description:
    "Packages of the RPM database, read from the SQLite rpmdb (/var/lib/rpm/rpmdb.sqlite, RPM 4.16+); hosts with an older Berkeley DB rpmdb, or none, answer no rows (osquery: rpm_packages).",
  platforms: ["linux"],
  platformNote: "it reads the RPM database",
  columns: [
    { name: "name", type: "TEXT", description: "Package name" },
    { name: "version", type: "TEXT", description: "Package version" },
    { name: "release", type: "TEXT", description: "Package release" },
    { name: "source", type: "TEXT", description: "Source RPM file name" },
    { name: "size", type: "INTEGER", description: "Installed size in bytes" },
    { name: "sha1", type: "TEXT", description: "SHA1 digest of the package header" },
    { name: "arch", type: "TEXT", description: "Architecture" },
    { name: "epoch", type: "INTEGER", description: "Epoch; null when the package has none" },
    { name: "install_time", type: "INTEGER", description: "When the package was installed, Unix seconds" },
    { name: "vendor", type: "TEXT", description: "Package vendor" },
    { name: "package_group", type: "TEXT", description: "Package group" },
  ],
  *rows(ctx) {
    const image = readIfPresent(ctx.hostPath(RPMDB_SQLITE));
    if (image === undefined) return;
    // The headers are read and the handle closed before the first row is yielded: a scan abandoned
    // early (LIMIT) must not leave a database open.
    const db = openImage(image);
    let headers: RpmHeader[];
    try {
      headers = packageHeaders(db);
    } finally {
      db.close();
    }
    for (const h of headers) {
      const text = (tag: number): string | null => {
        const v = h.get(tag);
        return v === undefined ? null : String(v);
      };
      const name = text(TAG.name);
      // The rpmdb keeps gpg-pubkey pseudo-packages too; rpm -qa lists them, and so does osquery.
      if (name === null) continue;
      yield {
        name,
        version: text(TAG.version),
        release: text(TAG.release),
        source: text(TAG.sourceRpm),
        size: h.get(TAG.longSize) ?? h.get(TAG.size) ?? null,
        sha1: text(TAG.sha1header),
        arch: text(TAG.arch),
        epoch: h.get(TAG.epoch) ?? null,
        install_time: h.get(TAG.installTime) ?? null,
        vendor: text(TAG.vendor),
        package_group: text(TAG.group),
      };
    }
  },
});
