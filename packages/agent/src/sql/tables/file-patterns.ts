import { readdirSync, type Dirent } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { ScanConstraints } from "../table-def.js";
import { isVanishedError } from "./proc.js";

/** Maps a host path to where the agent reads it (`TableContext.hostPath`). */
export type HostPath = (absolutePath: string) => string;

/** Lists a directory's entry names, or none when it is gone, not a directory or not ours to read. */
export function listDir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch (err) {
    if (isVanishedError(err) || (err as NodeJS.ErrnoException).code === "ENOTDIR") return [];
    throw err;
  }
}

/** One path segment of a pattern with `%` as a wildcard, matched case-insensitively as SQLite's LIKE does. */
function segmentMatcher(segment: string): RegExp {
  const body = segment
    .split("%")
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replaceAll("_", "."))
    .join(".*");
  return new RegExp(`^${body}$`, "is");
}

/** Every path under `dir`, depth first, lazily; symlinked directories are not followed (no cycles). */
function* descendants(dir: string, host: HostPath): Generator<string> {
  let entries: Dirent[];
  try {
    entries = readdirSync(host(dir), { withFileTypes: true });
  } catch (err) {
    if (isVanishedError(err)) return;
    throw err;
  }
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const path = join(dir, entry.name);
    yield path;
    if (entry.isDirectory()) yield* descendants(path, host);
  }
}

/**
 * Expands osquery's file patterns, lazily: `%` matches within one path segment (`/home/%/.ssh`), and a
 * segment holding `%%` matches any depth below (`/etc/%%`: every path under /etc). Yields host paths that
 * may match; SQLite still applies the query's LIKE, so the expansion only has to be a superset.
 */
export function* expandPattern(pattern: string, host: HostPath): Generator<string> {
  if (!pattern.startsWith("/")) return;
  const segments = pattern.split("/").slice(1);
  yield* walk("/", segments, host);
}

function* walk(base: string, segments: string[], host: HostPath): Generator<string> {
  const [segment, ...rest] = segments;
  if (segment === undefined) {
    yield base;
    return;
  }
  if (segment === "" && rest.length === 0) {
    yield base; // a trailing slash
    return;
  }
  if (segment.includes("%%")) {
    // The rest of the pattern is left to LIKE: every descendant is a candidate.
    yield* descendants(base, host);
    return;
  }
  if (!segment.includes("%") && !segment.includes("_")) {
    yield* walk(join(base, segment), rest, host);
    return;
  }
  const matcher = segmentMatcher(segment);
  for (const name of listDir(host(base)).sort()) {
    if (matcher.test(name)) yield* walk(join(base, name), rest, host);
  }
}

/**
 * The host paths a scan of a path/directory table must visit: each bound `path` (from `=`/`IN`), else
 * the expansions of its LIKE patterns; for `directory`, each entry of each bound or expanded directory.
 * Each path is paired with the directory column to show. `hostPath` maps a host path to where it is read.
 */
export function* candidatePaths(scan: ScanConstraints, host: HostPath): Generator<{ path: string; directory: string | undefined }> {
  const path = scan.equals.path;
  const directory = scan.equals.directory;
  if (path !== undefined) {
    // Both bound: SQLite trusts the scan to honour both (it omits re-checking bound arguments).
    if (directory !== undefined && resolve(dirname(path)) !== resolve(directory)) return;
    yield { path, directory };
    return;
  }
  if (directory !== undefined) {
    for (const name of listDir(host(directory)).sort()) yield { path: join(directory, name), directory };
    return;
  }
  const seen = new Set<string>();
  for (const pattern of scan.likes.path ?? []) {
    for (const p of expandPattern(pattern, host)) {
      if (seen.has(p)) continue;
      seen.add(p);
      yield { path: p, directory: undefined };
    }
  }
  for (const pattern of scan.likes.directory ?? []) {
    for (const dir of expandPattern(pattern, host)) {
      for (const name of listDir(host(dir)).sort()) {
        const p = join(dir, name);
        if (seen.has(p)) continue;
        seen.add(p);
        yield { path: p, directory: dir };
      }
    }
  }
}
