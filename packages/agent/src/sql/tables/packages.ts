import { join } from "node:path";
import { defineTable } from "../table-def.js";
import { listDir } from "./file-patterns.js";
import { readTextIfPresent } from "./proc.js";
import { homes } from "./secrets.js";

/** Sections of an INI file (yum's .repo format): `[name]` then `key=value` lines. */
export function parseIni(text: string): { name: string; fields: Map<string, string> }[] {
  const sections: { name: string; fields: Map<string, string> }[] = [];
  let current: { name: string; fields: Map<string, string> } | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header !== null) {
      current = { name: header[1] as string, fields: new Map() };
      sections.push(current);
      continue;
    }
    const eq = line.indexOf("=");
    if (current !== undefined && eq > 0) current.fields.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  return sections;
}

/** `yum_sources`: the repositories of /etc/yum.conf and /etc/yum.repos.d; zero rows where yum is absent. */
export const yumSourcesTable = defineTable({
  name: "yum_sources",
  description: "Yum/DNF repositories from /etc/yum.conf and /etc/yum.repos.d/*.repo (zero rows where absent).",
  platforms: ["linux"],
  platformNote: "it reads /etc/yum.repos.d",
  columns: [
    { name: "name", type: "TEXT", description: "Repository name" },
    { name: "source", type: "TEXT", description: "File the repository is defined in" },
    { name: "baseurl", type: "TEXT", description: "Base URL" },
    { name: "mirrorlist", type: "TEXT", description: "Mirror list URL" },
    { name: "metalink", type: "TEXT", description: "Metalink URL" },
    { name: "enabled", type: "TEXT", description: "Whether the repository is used" },
    { name: "gpgcheck", type: "TEXT", description: "Whether packages are GPG-checked" },
    { name: "gpgkey", type: "TEXT", description: "URL of the GPG key" },
  ],
  *rows(ctx) {
    const files = ["/etc/yum.conf", ...listDir(ctx.hostPath("/etc/yum.repos.d")).filter((f) => f.endsWith(".repo")).sort().map((f) => `/etc/yum.repos.d/${f}`)];
    for (const source of files) {
      const text = readTextIfPresent(ctx.hostPath(source));
      if (text === undefined) continue;
      for (const s of parseIni(text)) {
        if (s.name === "main") continue;
        const f = (k: string): string => s.fields.get(k) ?? "";
        yield { name: s.name, source, baseurl: f("baseurl"), mirrorlist: f("mirrorlist"), metalink: f("metalink"), enabled: f("enabled"), gpgcheck: f("gpgcheck"), gpgkey: f("gpgkey") };
      }
    }
  },
});

/** Splits a portage `name-version` directory at the version (the last `-` followed by a digit). */
export function splitPortageAtom(dir: string): { name: string; version: string } {
  const m = /^(.+?)-(\d[^-]*(?:-r\d+)?)$/.exec(dir);
  return m === null ? { name: dir, version: "" } : { name: m[1] as string, version: m[2] as string };
}

/** `portage_packages`: Gentoo packages of /var/db/pkg; zero rows elsewhere. */
export const portagePackagesTable = defineTable({
  name: "portage_packages",
  description: "Installed Gentoo packages from /var/db/pkg (zero rows where absent).",
  platforms: ["linux"],
  platformNote: "it reads /var/db/pkg",
  columns: [
    { name: "package", type: "TEXT", description: "Package, category/name" },
    { name: "version", type: "TEXT", description: "Installed version" },
    { name: "slot", type: "TEXT", description: "Slot" },
    { name: "build_time", type: "INTEGER", description: "When the package was built, Unix seconds" },
    { name: "repository", type: "TEXT", description: "Repository of the ebuild" },
    { name: "eapi", type: "INTEGER", description: "EAPI of the ebuild" },
    { name: "size", type: "INTEGER", description: "Installed size, bytes" },
    { name: "world", type: "INTEGER", description: "1 if the package is in the world file" },
  ],
  *rows(ctx) {
    const root = "/var/db/pkg";
    const world = new Set((readTextIfPresent(ctx.hostPath("/var/lib/portage/world")) ?? "").split("\n").map((l) => l.trim()));
    for (const category of listDir(ctx.hostPath(root)).sort()) {
      for (const dir of listDir(ctx.hostPath(join(root, category))).sort()) {
        const { name, version } = splitPortageAtom(dir);
        const read = (file: string): string => readTextIfPresent(ctx.hostPath(join(root, category, dir, file)))?.trim() ?? "";
        const pkg = `${category}/${name}`;
        yield {
          package: pkg,
          version,
          slot: read("SLOT"),
          build_time: read("BUILD_TIME"),
          repository: read("repository"),
          eapi: read("EAPI"),
          size: read("SIZE"),
          world: world.has(pkg) ? 1 : 0,
        };
      }
    }
  },
});

/** VS Code editions and where each keeps its extensions under a home directory. */
const VSCODE_EDITIONS = [
  { edition: "vscode", dir: ".vscode/extensions" },
  { edition: "vscode_insiders", dir: ".vscode-insiders/extensions" },
  { edition: "vscodium", dir: ".vscode-oss/extensions" },
  { edition: "cursor", dir: ".cursor/extensions" },
];

interface VscodeExtension {
  identifier?: { id?: string; uuid?: string };
  version?: string;
  location?: { path?: string; fsPath?: string };
  metadata?: { publisherDisplayName?: string; publisherId?: string; installedTimestamp?: number; isPreReleaseVersion?: boolean };
}

/** `vscode_extensions`: extensions each user installed in VS Code and its forks, from extensions.json. */
export const vscodeExtensionsTable = defineTable({
  name: "vscode_extensions",
  description: "VS Code (and Insiders, VSCodium, Cursor) extensions of each user, from ~/.vscode*/extensions/extensions.json.",
  platforms: ["linux", "darwin", "freebsd", "openbsd", "netbsd"],
  platformNote: "it reads POSIX home directories",
  columns: [
    { name: "name", type: "TEXT", description: "Extension id (publisher.name)" },
    { name: "uuid", type: "TEXT", description: "Extension UUID" },
    { name: "version", type: "TEXT", description: "Installed version" },
    { name: "path", type: "TEXT", description: "Directory of the extension" },
    { name: "publisher", type: "TEXT", description: "Publisher's display name" },
    { name: "publisher_id", type: "TEXT", description: "Publisher id" },
    { name: "installed_at", type: "INTEGER", description: "When it was installed, ms since the epoch (as extensions.json records it)" },
    { name: "prerelease", type: "INTEGER", description: "1 for a pre-release version" },
    { name: "uid", type: "INTEGER", description: "The user whose home holds it" },
    { name: "vscode_edition", type: "TEXT", description: "vscode, vscode_insiders, vscodium or cursor" },
  ],
  *rows(ctx) {
    for (const { uid, home } of homes(ctx)) {
      for (const { edition, dir } of VSCODE_EDITIONS) {
        const text = readTextIfPresent(ctx.hostPath(join(home, dir, "extensions.json")));
        if (text === undefined) continue;
        let list: unknown;
        try {
          list = JSON.parse(text);
        } catch {
          continue; // a half-written file: nothing to report for this edition
        }
        if (!Array.isArray(list)) continue;
        for (const e of list as VscodeExtension[]) {
          yield {
            name: e.identifier?.id ?? "",
            uuid: e.identifier?.uuid ?? "",
            version: e.version ?? "",
            path: e.location?.fsPath ?? e.location?.path ?? "",
            publisher: e.metadata?.publisherDisplayName ?? "",
            publisher_id: e.metadata?.publisherId ?? "",
            installed_at: e.metadata?.installedTimestamp ?? null,
            prerelease: e.metadata?.isPreReleaseVersion === true ? 1 : 0,
            uid,
            vscode_edition: edition,
          };
        }
      }
    }
  },
});
