import { defineTable, type TableContext } from "../table-def.js";
import { listDir, readFileText, readHostText } from "./host-files.js";

const DPKG_ADMINDIR = "/var/lib/dpkg";

/**
 * Parses a Debian control file (dpkg's status, an apt Release file, a deb822 .sources file) into
 * paragraphs of `Field: value`. Continuation lines (starting with a space or tab) join the previous
 * field with a newline; `#` comment lines are dropped; field names keep their case.
 */
export function parseControlParagraphs(text: string): Map<string, string>[] {
  const paragraphs: Map<string, string>[] = [];
  let current = new Map<string, string>();
  let last: string | undefined;
  for (const line of text.split("\n")) {
    if (line.trim() === "") {
      if (current.size > 0) paragraphs.push(current);
      current = new Map();
      last = undefined;
      continue;
    }
    if (line.startsWith("#")) continue;
    if ((line.startsWith(" ") || line.startsWith("\t")) && last !== undefined) {
      current.set(last, `${current.get(last) ?? ""}\n${line.trim()}`);
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    last = line.slice(0, colon);
    current.set(last, line.slice(colon + 1).trim());
  }
  if (current.size > 0) paragraphs.push(current);
  return paragraphs;
}

/** The Debian revision of a version: what follows its last hyphen, or "" for a native package. */
export function debianRevision(version: string): string {
  const dash = version.lastIndexOf("-");
  return dash < 0 ? "" : version.slice(dash + 1);
}

/** `deb_packages`: dpkg's package database. */
export const debPackagesTable = defineTable({
  name: "deb_packages",
  description: "Packages of the dpkg database (/var/lib/dpkg/status), except those not installed (osquery: deb_packages).",
  platforms: ["linux"],
  platformNote: "it reads the dpkg database",
  columns: [
    { name: "name", type: "TEXT", description: "Package name" },
    { name: "version", type: "TEXT", description: "Package version, with its epoch and revision" },
    { name: "source", type: "TEXT", description: "Source package (its Source field, which may carry a version in parentheses)" },
    {
      name: "size",
      type: "INTEGER",
      description: "Installed-Size as dpkg records it, in KiB (osquery's spec says bytes, but osquery reports this same value)",
    },
    { name: "arch", type: "TEXT", description: "Package architecture" },
    { name: "revision", type: "TEXT", description: "Debian revision: the part of the version after its last hyphen" },
    { name: "status", type: "TEXT", description: "dpkg status: want, error flag and state (e.g. install ok installed)" },
    { name: "maintainer", type: "TEXT", description: "Package maintainer" },
    { name: "section", type: "TEXT", description: "Package section" },
    { name: "priority", type: "TEXT", description: "Package priority" },
    { name: "admindir", type: "TEXT", description: "dpkg admin directory the row comes from (/var/lib/dpkg)" },
  ],
  *rows(ctx) {
    const text = readHostText(ctx, `${DPKG_ADMINDIR}/status`);
    if (text === undefined) return;
    for (const p of parseControlParagraphs(text)) {
      const name = p.get("Package");
      const status = p.get("Status") ?? "";
      // libdpkg drops packages whose state is not-installed (purged but still known); osquery does too.
      if (name === undefined || status.split(/\s+/)[2] === "not-installed") continue;
      const version = p.get("Version") ?? "";
      yield {
        name,
        version,
        source: p.get("Source") ?? "",
        size: p.get("Installed-Size") ?? null,
        arch: p.get("Architecture") ?? "",
        revision: debianRevision(version),
        status,
        maintainer: p.get("Maintainer") ?? "",
        section: p.get("Section") ?? "",
        priority: p.get("Priority") ?? "",
        admindir: DPKG_ADMINDIR,
      };
    }
  },
});

/** One repository of an apt sources list, before its cached Release file is consulted. */
export interface AptSource {
  /** URI without trailing slashes. */
  baseUri: string;
  /** osquery's name: the URI without its scheme, a space, the suite. */
  name: string;
  /** The /var/lib/apt/lists file name prefix of its Release file. */
  listPrefix: string;
}

function aptSource(uri: string, suite: string): AptSource | undefined {
  const scheme = uri.indexOf("://");
  if (scheme < 0) return undefined;
  const baseUri = uri.replace(/\/+$/, "");
  const host = baseUri.slice(scheme + 3);
  if (host === "") return undefined;
  // apt names the cache after the URI without scheme: flat repositories ("suite/") keep their path, others add dists/.
  const parts = suite.includes("/") ? [host, ...suite.split("/").filter((s) => s !== "")] : [host, "dists", suite];
  return { baseUri, name: `${host} ${suite}`, listPrefix: parts.join("_").replaceAll("/", "_") };
}

/** Parses a one-line-style sources.list: `deb [options] uri suite [component...]`; deb-src and comments are skipped. */
export function parseSourcesList(text: string): AptSource[] {
  const sources: AptSource[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.split("#")[0]!.trim();
    const tokens = line.split(/\s+/);
    if (tokens[0] !== "deb") continue;
    let i = 1;
    if (tokens[i]?.startsWith("[")) {
      while (i < tokens.length && !tokens[i]!.includes("]")) i++;
      i++;
    }
    const uri = tokens[i];
    const suite = tokens[i + 1];
    if (uri === undefined || suite === undefined) continue;
    const s = aptSource(uri, suite);
    if (s !== undefined) sources.push(s);
  }
  return sources;
}

/** Parses a deb822 `.sources` file: one repository per URI × suite of each enabled `Types: deb` stanza. */
export function parseDeb822Sources(text: string): AptSource[] {
  const sources: AptSource[] = [];
  for (const stanza of parseControlParagraphs(text)) {
    const field = (name: string): string | undefined => {
      for (const [k, v] of stanza) if (k.toLowerCase() === name) return v;
      return undefined;
    };
    if (!(field("types") ?? "").split(/\s+/).includes("deb")) continue;
    if ((field("enabled") ?? "yes").toLowerCase() === "no") continue;
    const uris = (field("uris") ?? "").split(/\s+/).filter((u) => u !== "");
    const suites = (field("suites") ?? "").split(/\s+/).filter((s) => s !== "");
    for (const uri of uris) {
      for (const suite of suites) {
        const s = aptSource(uri, suite);
        if (s !== undefined) sources.push(s);
      }
    }
  }
  return sources;
}

/** The fields of a cached Release (or InRelease, without its signature) that apt_sources shows. */
function releaseFields(ctx: TableContext, prefix: string): Map<string, string> | undefined {
  const lists = ctx.hostPath("/var/lib/apt/lists");
  const names = ctx.memo("apt-sources.list-names", () => new Set(listDir(lists)));
  const file = [`${prefix}_InRelease`, `${prefix}_Release`].find((f) => names.has(f));
  if (file === undefined) return undefined;
  const text = readFileText(`${lists}/${file}`);
  if (text === undefined) return undefined;
  const body = text.replace(/^-----BEGIN PGP SIGNED MESSAGE-----\n(?:Hash:.*\n)*\n/, "").split("-----BEGIN PGP SIGNATURE-----")[0]!;
  return parseControlParagraphs(body)[0];
}

/** `apt_sources`: the repositories apt is configured with, described from their cached Release files. */
export const aptSourcesTable = defineTable({
  name: "apt_sources",
  description:
    "APT repositories of /etc/apt/sources.list and sources.list.d (*.list and deb822 *.sources), with the details of their cached Release files; like osquery, a repository apt has not fetched yet is left out (osquery: apt_sources).",
  platforms: ["linux"],
  platformNote: "it reads /etc/apt",
  columns: [
    { name: "name", type: "TEXT", description: "Repository: URI without scheme, a space, the suite" },
    { name: "source", type: "TEXT", description: "File the repository is configured in" },
    { name: "base_uri", type: "TEXT", description: "Repository base URI" },
    { name: "release", type: "TEXT", description: "Codename of the release" },
    { name: "version", type: "TEXT", description: "Version of the release" },
    { name: "maintainer", type: "TEXT", description: "Origin of the release" },
    { name: "components", type: "TEXT", description: "Components, space-separated" },
    { name: "architectures", type: "TEXT", description: "Architectures, space-separated" },
  ],
  *rows(ctx) {
    const files: { path: string; deb822: boolean }[] = [{ path: "/etc/apt/sources.list", deb822: false }];
    for (const f of listDir(ctx.hostPath("/etc/apt/sources.list.d"))) {
      if (f.endsWith(".list")) files.push({ path: `/etc/apt/sources.list.d/${f}`, deb822: false });
      else if (f.endsWith(".sources")) files.push({ path: `/etc/apt/sources.list.d/${f}`, deb822: true });
    }
    for (const file of files) {
      const text = readHostText(ctx, file.path);
      if (text === undefined) continue;
      for (const s of file.deb822 ? parseDeb822Sources(text) : parseSourcesList(text)) {
        const release = releaseFields(ctx, s.listPrefix);
        if (release === undefined) continue;
        yield {
          name: s.name,
          source: file.path,
          base_uri: s.baseUri,
          release: release.get("Codename") ?? null,
          version: release.get("Version") ?? null,
          maintainer: release.get("Origin") ?? null,
          components: release.get("Components") ?? null,
          architectures: release.get("Architectures") ?? null,
        };
      }
    }
  },
});
