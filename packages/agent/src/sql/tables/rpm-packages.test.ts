import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { NO_CONSTRAINTS } from "../table-def.js";
import { CollectorError } from "../../errors.js";
import { fakeHost, type FakeHost } from "../../../test/fake-host.js";
import { parseRpmHeader, rpmPackagesTable } from "./rpm-packages.js";

type Entry = { tag: number; type: 4 | 5 | 6 | 9; value: string | number };

/** Builds an rpmdb header blob: il, dl, index entries (tag, type, offset, count), data store; all big-endian. */
function header(entries: Entry[]): Buffer {
  const data: Buffer[] = [];
  const used = (): number => data.reduce((n, b) => n + b.length, 0);
  const index = Buffer.alloc(entries.length * 16);
  entries.forEach((e, i) => {
    let bytes: Buffer;
    if (e.type === 4) {
      data.push(Buffer.alloc((4 - (used() % 4)) % 4)); // rpm aligns integers to their size
      bytes = Buffer.alloc(4);
      bytes.writeUInt32BE(Number(e.value));
    } else if (e.type === 5) {
      data.push(Buffer.alloc((8 - (used() % 8)) % 8));
      bytes = Buffer.alloc(8);
      bytes.writeBigUInt64BE(BigInt(e.value));
    } else {
      bytes = Buffer.from(`${e.value}\0`);
    }
    const offset = used();
    index.writeUInt32BE(e.tag, i * 16);
    index.writeUInt32BE(e.type, i * 16 + 4);
    index.writeInt32BE(offset, i * 16 + 8);
    index.writeUInt32BE(1, i * 16 + 12);
    data.push(bytes);
  });
  const store = Buffer.concat(data);
  const pre = Buffer.alloc(8);
  pre.writeUInt32BE(entries.length, 0);
  pre.writeUInt32BE(store.length, 4);
  return Buffer.concat([pre, index, store]);
}

const BASH: Entry[] = [
  { tag: 1000, type: 6, value: "bash" },
  { tag: 1001, type: 6, value: "5.2.26" },
  { tag: 1002, type: 6, value: "3.fc40" },
  { tag: 1003, type: 4, value: 1 },
  { tag: 1008, type: 4, value: 1_712_000_000 },
  { tag: 1009, type: 4, value: 8_000_000 },
  { tag: 1011, type: 6, value: "Fedora Project" },
  { tag: 1016, type: 9, value: "Unspecified" },
  { tag: 1022, type: 6, value: "x86_64" },
  { tag: 1044, type: 6, value: "bash-5.2.26-3.fc40.src.rpm" },
  { tag: 269, type: 6, value: "0123456789abcdef0123456789abcdef01234567" },
];

describe("parseRpmHeader", () => {
  it("reads string, i18n string and integer tags", () => {
    const h = parseRpmHeader(header(BASH));
    expect(h.get(1000)).toBe("bash");
    expect(h.get(1016)).toBe("Unspecified");
    expect(h.get(1003)).toBe(1);
    expect(h.get(1009)).toBe(8_000_000);
  });

  it("refuses a blob whose sizes exceed it", () => {
    const blob = header(BASH);
    expect(() => parseRpmHeader(blob.subarray(0, blob.length - 10))).toThrow(/exceed/);
    expect(() => parseRpmHeader(Buffer.alloc(4))).toThrow(/preamble/);
  });
});

describe("rpm_packages", () => {
  let host: FakeHost;
  afterEach(() => host.remove());

  it("reads every package of a WAL-mode SQLite rpmdb without touching the database's directory", () => {
    host = fakeHost();
    host.mkdir("/var/lib/rpm");
    const file = `${host.root}/var/lib/rpm/rpmdb.sqlite`;
    const db = new Database(file);
    db.pragma("journal_mode = wal");
    db.exec("create table Packages (hnum integer primary key autoincrement, blob blob not null)");
    const insert = db.prepare("insert into Packages (blob) values (?)");
    insert.run(header(BASH));
    insert.run(Buffer.from("corrupt"));
    insert.run(header([{ tag: 1000, type: 6, value: "noepoch" }, { tag: 5009, type: 5, value: 5_000_000_000 }]));
    db.close();

    expect([...rpmPackagesTable.rows(host.ctx(), NO_CONSTRAINTS)]).toEqual([
      {
        name: "bash",
        version: "5.2.26",
        release: "3.fc40",
        source: "bash-5.2.26-3.fc40.src.rpm",
        size: 8_000_000,
        sha1: "0123456789abcdef0123456789abcdef01234567",
        arch: "x86_64",
        epoch: 1,
        install_time: 1_712_000_000,
        vendor: "Fedora Project",
        package_group: "Unspecified",
      },
      { name: "noepoch", version: null, release: null, source: null, size: 5_000_000_000, sha1: null, arch: null, epoch: null, install_time: null, vendor: null, package_group: null },
    ]);
  });

  it("answers no rows without an rpmdb, and a clear error for a file that is not one", () => {
    host = fakeHost();
    expect([...rpmPackagesTable.rows(host.ctx(), NO_CONSTRAINTS)]).toEqual([]);
    host.write("/var/lib/rpm/rpmdb.sqlite", "not a database at all, just text that is long enough");
    expect(() => [...rpmPackagesTable.rows(host.ctx(), NO_CONSTRAINTS)]).toThrow(CollectorError);
  });
});
