import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import type { TableContext } from "../table-def.js";
import { isVanishedError, passwd } from "./proc.js";

/** Reads the host file `p` (an absolute host path) under the agent's host root (`ctx.hostPath`); undefined when it is absent, a directory or not readable. */
export function readHostText(ctx: TableContext, p: string): string | undefined {
  return readFileText(ctx.hostPath(p));
}

/** Largest host file a table parses; anything bigger is not a configuration or metadata file. */
export const MAX_HOST_FILE_BYTES = 64 * 1024 * 1024;

/**
 * Reads the real file `p`; undefined when it is absent, not readable, not a regular file, or larger than
 * {@link MAX_HOST_FILE_BYTES}. Many of these paths sit in users' homes: a FIFO planted where a browser
 * profile is expected would otherwise block the query until its deadline, and a huge file exhaust memory.
 */
export function readFileText(p: string): string | undefined {
  try {
    const st = statSync(p);
    if (!st.isFile() || st.size > MAX_HOST_FILE_BYTES) return undefined;
    return readFileSync(p, "utf8");
  } catch (err) {
    if (isVanishedError(err)) return undefined;
    throw err;
  }
}

/** Names in directory `dir` (a real path), sorted; empty when it is absent, not a directory or not readable. */
export function listDir(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch (err) {
    if (isVanishedError(err)) return [];
    throw err;
  }
}

/** True when the real path `p` is a directory (following symlinks); false when absent or unreadable. */
export function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** One home directory of a local account, with the uid that owns it. */
export interface UserHome {
  uid: number;
  /** The home directory as /etc/passwd names it (a host path, not mapped). */
  home: string;
}

/**
 * The home directories of /etc/passwd, one per distinct directory (service accounts sharing `/` or
 * /nonexistent appear once, under the first uid), memoised per query. Browser and package tables
 * look only here, never walk the file system for profiles.
 */
export function userHomes(ctx: TableContext): readonly UserHome[] {
  return ctx.memo("host-files.user-homes", () => {
    const seen = new Set<string>();
    const homes: UserHome[] = [];
    for (const e of passwd(ctx)) {
      const home = e.home.replace(/\/+$/, "");
      // "/" (daemons) holds no profiles; relative or empty homes are malformed.
      if (!home.startsWith("/") || seen.has(home)) continue;
      seen.add(home);
      homes.push({ uid: e.uid, home });
    }
    return homes;
  });
}

/** A path segment with osquery's `%` wildcard (any run of characters within one segment) as a RegExp. */
function segmentPattern(segment: string): RegExp {
  const escaped = segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replaceAll("%", ".*");
  return new RegExp(`^${escaped}$`);
}

/**
 * Expands an absolute host path whose segments may hold `%` (osquery's glob: any characters within one
 * segment) into the existing host paths it matches, sorted. Only the wildcard segments list a
 * directory, so the cost is one listing per wildcard level, never a walk; hidden entries match only a
 * segment that itself starts with ".".
 */
export function expandHostPattern(ctx: TableContext, pattern: string): string[] {
  let found = ["/"];
  for (const segment of pattern.split("/").filter((s) => s !== "")) {
    const next: string[] = [];
    for (const dir of found) {
      const prefix = dir === "/" ? "" : dir;
      if (!segment.includes("%")) {
        next.push(`${prefix}/${segment}`);
        continue;
      }
      const re = segmentPattern(segment);
      for (const name of listDir(ctx.hostPath(dir))) {
        if (name.startsWith(".") && !segment.startsWith(".")) continue;
        if (re.test(name)) next.push(`${prefix}/${name}`);
      }
    }
    found = next;
    if (found.length === 0) return [];
  }
  return found.filter((p) => existsSync(ctx.hostPath(p)));
}
