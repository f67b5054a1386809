import { afterEach, describe, expect, it } from "vitest";
import { NO_CONSTRAINTS } from "../table-def.js";
import { groupsTable, parseGroup, userGroupPairs } from "./accounts.js";
import { fakeHost, type FakeHost } from "../../../test/fake-host.js";

describe("parseGroup", () => {
  it("reads name, gid and members, skipping comments, NIS lines and malformed gids", () => {
    const text = "# c\nroot:x:0:\nsudo:x:27:alice, bob\n+nis:::\nbad:x:notanumber:\nneg:x:-1:\nusers:x:100:\n";
    expect(parseGroup(text)).toEqual([
      { name: "root", gid: 0, members: [] },
      { name: "sudo", gid: 27, members: ["alice", "bob"] },
      { name: "users", gid: 100, members: [] },
    ]);
  });
});

describe("userGroupPairs", () => {
  it("gives each user its primary group then the groups listing it, once per uid and gid", () => {
    const users = [
      { name: "alice", uid: 1000, gid: 1000 },
      { name: "bob", uid: 1001, gid: 100 },
      { name: "alias", uid: 1000, gid: 5 },
    ];
    const groups = parseGroup("alice:x:1000:\nusers:x:100:bob\nsudo:x:27:alice,bob\ndocker:x:999:alice\n");
    expect(userGroupPairs(users, groups)).toEqual([
      { uid: 1000, gid: 1000 },
      { uid: 1000, gid: 27 },
      { uid: 1000, gid: 999 },
      { uid: 1001, gid: 100 },
      { uid: 1001, gid: 27 },
    ]);
  });
});

describe("groups table", () => {
  let host: FakeHost;
  afterEach(() => host.remove());

  it("reads /etc/group under the host root, first entry per gid, with the signed gid", () => {
    host = fakeHost();
    host.write("/etc/group", "root:x:0:\nnogroup:x:4294967294:\ndup:x:0:\n");
    expect([...groupsTable.rows(host.ctx(), NO_CONSTRAINTS)]).toEqual([
      { gid: 0, gid_signed: 0, groupname: "root" },
      { gid: 4294967294, gid_signed: -2, groupname: "nogroup" },
    ]);
  });

  it("answers no rows when /etc/group is absent", () => {
    host = fakeHost();
    expect([...groupsTable.rows(host.ctx(), NO_CONSTRAINTS)]).toEqual([]);
  });
});
