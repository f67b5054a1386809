import { lstatSync, readdirSync, statSync } from "node:fs";
import { defineTable, type TableContext } from "../table-def.js";
import { groupEntries } from "./accounts.js";
import { userNames } from "./proc.js";

/** The directories osquery searches (suid_bin.cpp, kBinarySearchPaths); nothing else is walked. */
const SEARCH_DIRS = ["/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin", "/tmp"];

/** How deep below a search directory the walk goes: binaries sit at the top, /tmp can nest without end. */
const MAX_DEPTH = 8;

const S_ISUID = 0o4000;
const S_ISGID = 0o2000;

/** osquery's permissions text: S for set-user-id, G for set-group-id. */
export function suidPermissions(mode: number): string {
  return `${(mode & S_ISUID) !== 0 ? "S" : ""}${(mode & S_ISGID) !== 0 ? "G" : ""}`;
}

/**
 * Regular files with the set-user-id or set-group-id bit under `root` (a real path), reported under
 * `shown` (the host path). Symlinked directories are not followed, so /bin → /usr/bin is walked once,
 * under its own name, exactly as osquery's recursive iterator does.
 */
function* setIdFiles(root: string, shown: string, depth: number): Generator<{ path: string; mode: number; uid: number; gid: number }> {
  let entries;
  try {
    entries = readdirSync(root, { withFileTypes: true });
  } catch {
    return;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const real = `${root}/${e.name}`;
    if (e.isDirectory()) {
      if (depth < MAX_DEPTH) yield* setIdFiles(real, `${shown}/${e.name}`, depth + 1);
      continue;
    }
    // A symlink to a set-id binary is reported through its target's mode, as stat() would see it.
    if (!e.isFile() && !e.isSymbolicLink()) continue;
    try {
      const st = statSync(real);
      if (!st.isFile() || (st.mode & (S_ISUID | S_ISGID)) === 0) continue;
      yield { path: `${shown}/${e.name}`, mode: st.mode, uid: st.uid, gid: st.gid };
    } catch {
      // Dangling link, or removed while walking.
    }
  }
}

function groupNames(ctx: TableContext): ReadonlyMap<number, string> {
  return ctx.memo("suid-bin.group-names", () => {
    const names = new Map<number, string>();
    for (const g of groupEntries(ctx)) if (!names.has(g.gid)) names.set(g.gid, g.name);
    return names;
  });
}

/** `suid_bin`: set-user-id and set-group-id executables in the usual binary directories. */
export const suidBinTable = defineTable({
  name: "suid_bin",
  description: `Set-user-id and set-group-id files under ${SEARCH_DIRS.join(", ")} (at most ${MAX_DEPTH} levels deep) (osquery: suid_bin).`,
  platforms: ["linux"],
  platformNote: "it reads Linux binary directories",
  columns: [
    { name: "path", type: "TEXT", description: "Path of the file" },
    { name: "username", type: "TEXT", description: "Owner's user name, or the uid when it has none" },
    { name: "groupname", type: "TEXT", description: "Owning group's name, or the gid when it has none" },
    { name: "permissions", type: "TEXT", description: "S when set-user-id, G when set-group-id (SG when both)" },
  ],
  *rows(ctx) {
    const users = userNames(ctx);
    const groups = groupNames(ctx);
    for (const dir of SEARCH_DIRS) {
      const real = ctx.hostPath(dir);
      try {
        // A search directory that is itself a symlink (/bin → usr/bin on merged-/usr systems) is walked
        // under its own name, like osquery; lstat only checks it exists.
        lstatSync(real);
      } catch {
        continue;
      }
      for (const f of setIdFiles(real, dir, 0)) {
        yield {
          path: f.path,
          username: users.get(f.uid) ?? String(f.uid),
          groupname: groups.get(f.gid) ?? String(f.gid),
          permissions: suidPermissions(f.mode),
        };
      }
    }
  },
});
