import { defineTable, type TableContext } from "../table-def.js";
import { readHostText } from "./host-files.js";
import { passwd } from "./proc.js";

/** One line of /etc/group, without its password field. */
export interface GroupEntry {
  name: string;
  gid: number;
  /** Supplementary members, by login name. */
  members: string[];
}

/** Parses /etc/group (`name:x:gid:member,member`); comments, NIS lines and malformed lines are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const groups: GroupEntry[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#") || line.startsWith("+") || line.startsWith("-")) continue;
    const f = line.split(":");
    if (f.length < 4) continue;
    const gid = Number(f[2]);
    if (f[2] === "" || !Number.isInteger(gid) || gid < 0) continue;
    const members = (f[3] as string).split(",").map((m) => m.trim()).filter((m) => m !== "");
    groups.push({ name: f[0] as string, gid, members });
  }
  return groups;
}

/** The groups of /etc/group (read through the host root), memoised per query. */
export function groupEntries(ctx: TableContext): GroupEntry[] {
  return ctx.memo("accounts.group-entries", () => parseGroup(readHostText(ctx, "/etc/group") ?? ""));
}

/** A gid as the signed 32-bit value C's gid_t cast gives (osquery's `gid_signed`). */
const signed32 = (n: number): number => n | 0;

/** `groups`: local groups, osquery's columns. */
export const groupsTable = defineTable({
  name: "groups",
  description: "Local groups from /etc/group (osquery: groups).",
  platforms: ["linux"],
  platformNote: "it reads /etc/group",
  columns: [
    { name: "gid", type: "INTEGER", description: "Group id (unsigned)" },
    { name: "gid_signed", type: "INTEGER", description: "Group id as a signed 32-bit integer" },
    { name: "groupname", type: "TEXT", description: "Group name" },
  ],
  *rows(ctx) {
    // Like getgrent() in osquery, a gid listed twice yields its first entry only.
    const seen = new Set<number>();
    for (const g of groupEntries(ctx)) {
      if (seen.has(g.gid)) continue;
      seen.add(g.gid);
      yield { gid: g.gid, gid_signed: signed32(g.gid), groupname: g.name };
    }
  },
});

/**
 * The (uid, gid) pairs of user_groups: each user's primary group from /etc/passwd, then every group of
 * /etc/group that lists the user as a member, as getgrouplist(3) answers. A uid listed twice counts once.
 */
export function userGroupPairs(users: readonly { name: string; uid: number; gid: number }[], groups: readonly GroupEntry[]): { uid: number; gid: number }[] {
  const byMember = new Map<string, number[]>();
  for (const g of groups) for (const m of g.members) byMember.set(m, [...(byMember.get(m) ?? []), g.gid]);
  const pairs: { uid: number; gid: number }[] = [];
  const seenUids = new Set<number>();
  for (const u of users) {
    if (seenUids.has(u.uid)) continue;
    seenUids.add(u.uid);
    const gids = new Set<number>([u.gid, ...(byMember.get(u.name) ?? [])]);
    for (const gid of gids) pairs.push({ uid: u.uid, gid });
  }
  return pairs;
}

/** `user_groups`: which user belongs to which group, osquery's columns. */
export const userGroupsTable = defineTable({
  name: "user_groups",
  description: "User-to-group memberships: primary groups from /etc/passwd, supplementary ones from /etc/group (osquery: user_groups).",
  platforms: ["linux"],
  platformNote: "it reads /etc/passwd and /etc/group",
  columns: [
    { name: "uid", type: "INTEGER", description: "User id" },
    { name: "gid", type: "INTEGER", description: "Group id" },
  ],
  *rows(ctx) {
    yield* userGroupPairs(passwd(ctx), groupEntries(ctx));
  },
});
