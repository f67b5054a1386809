import { lstatSync } from "node:fs";
import { defineTable, type TableContext } from "../table-def.js";
import { expandHostPattern, isDirectory, listDir, readFileText, userHomes } from "./host-files.js";

/** System-wide site directories osquery looks in on Linux (python_packages.cpp, kPythonPath). */
const PYTHON_SYSTEM_SITES = [
  "/usr/local/lib/python%/dist-packages",
  "/usr/local/lib/python%/site-packages",
  "/usr/local/lib64/python%/site-packages",
  "/usr/lib/python%/dist-packages",
  "/usr/lib/python%/site-packages",
  "/opt/conda/lib/python%/dist-packages",
  "/opt/conda/lib/python%/site-packages",
  "/opt/miniconda3/lib/python%/site-packages",
  "/opt/anaconda3/lib/python%/site-packages",
];

/** Per-user site directories, relative to each home (osquery's kUserDirectoryPaths, expanded to site dirs). */
const PYTHON_USER_SITES = [
  ".local/lib/python%/site-packages",
  ".pyenv/versions/%/lib/python%/site-packages",
  ".asdf/installs/python/%/lib/python%/site-packages",
  ".local/share/mise/installs/python/%/lib/python%/site-packages",
  ".local/share/uv/tools/%/lib/python%/site-packages",
  ".local/share/pipx/venvs/%/lib/python%/site-packages",
  ".local/pipx/venvs/%/lib/python%/site-packages",
  ".cache/pypoetry/virtualenvs/%/lib/python%/site-packages",
  ".virtualenvs/%/lib/python%/site-packages",
  ".local/share/virtualenvs/%/lib/python%/site-packages",
  "miniforge3/lib/python%/site-packages",
  "miniconda3/lib/python%/site-packages",
  "anaconda3/lib/python%/site-packages",
  "mambaforge/lib/python%/site-packages",
  "miniforge3/envs/%/lib/python%/site-packages",
  "miniconda3/envs/%/lib/python%/site-packages",
  "anaconda3/envs/%/lib/python%/site-packages",
  "mambaforge/envs/%/lib/python%/site-packages",
];

/** The fields of a Python core-metadata file (METADATA of a .dist-info, PKG-INFO of an .egg-info). */
export interface PythonMetadata {
  name: string | null;
  version: string | null;
  summary: string | null;
  author: string | null;
  license: string | null;
}

/**
 * Reads the header of a core-metadata file (RFC 822 style: `Key: value` lines up to the first blank
 * line; the description body after it is ignored). The first occurrence of a key wins; `Author` falls
 * back to `Author-email` and `License` to `License-Expression` when absent, as newer packaging writes.
 */
export function parsePythonMetadata(text: string): PythonMetadata {
  const fields = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line.trim() === "") break;
    if (line.startsWith(" ") || line.startsWith("\t")) continue;
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const key = line.slice(0, colon).toLowerCase();
    if (!fields.has(key)) fields.set(key, line.slice(colon + 1).trim());
  }
  const get = (...keys: string[]): string | null => {
    for (const k of keys) {
      const v = fields.get(k);
      if (v !== undefined && v !== "" && v !== "UNKNOWN") return v;
    }
    return null;
  };
  return {
    name: get("name"),
    version: get("version"),
    summary: get("summary"),
    author: get("author", "author-email"),
    license: get("license", "license-expression"),
  };
}

/** The packages of one site directory: each *.dist-info/METADATA and *.egg-info/PKG-INFO. */
function* sitePackages(ctx: TableContext, site: string, uid: number) {
  for (const entry of listDir(ctx.hostPath(site))) {
    const file = entry.endsWith(".dist-info") ? "METADATA" : entry.endsWith(".egg-info") ? "PKG-INFO" : undefined;
    if (file === undefined) continue;
    const path = `${site}/${entry}`;
    if (!isDirectory(ctx.hostPath(path))) continue;
    const text = readFileText(ctx.hostPath(`${path}/${file}`));
    if (text === undefined) continue;
    yield { ...parsePythonMetadata(text), uid, path, directory: site };
  }
}

/** `python_packages`: Python distributions installed system-wide and in users' homes. */
export const pythonPackagesTable = defineTable({
  name: "python_packages",
  description:
    "Python packages (*.dist-info and *.egg-info) in the system site directories and in each user's user site, pyenv, conda, pipx, poetry and virtualenv directories (osquery: python_packages).",
  platforms: ["linux"],
  platformNote: "it reads Linux site directories",
  columns: [
    { name: "name", type: "TEXT", description: "Package name (metadata Name)" },
    { name: "uid", type: "INTEGER", description: "Owner: 0 for system directories, the user's uid for a home directory" },
    { name: "version", type: "TEXT", description: "Package version" },
    { name: "summary", type: "TEXT", description: "One-line summary" },
    { name: "author", type: "TEXT", description: "Author (or Author-email when no Author is given)" },
    { name: "license", type: "TEXT", description: "License (or License-Expression when no License is given)" },
    { name: "path", type: "TEXT", description: "The package's .dist-info or .egg-info directory" },
    { name: "directory", type: "TEXT", description: "Site directory the package is installed in" },
  ],
  *rows(ctx) {
    for (const pattern of PYTHON_SYSTEM_SITES) {
      for (const site of expandHostPattern(ctx, pattern)) yield* sitePackages(ctx, site, 0);
    }
    for (const { uid, home } of userHomes(ctx)) {
      for (const pattern of PYTHON_USER_SITES) {
        for (const site of expandHostPattern(ctx, `${home}/${pattern}`)) yield* sitePackages(ctx, site, uid);
      }
    }
  },
});

/** Prefixes whose node_modules osquery lists on Linux (npm_packages.cpp, kNodeModulesPath). */
const NODE_PREFIXES = [
  "/usr/local/lib",
  "/usr/lib",
  "/home/%/.npm-global/lib",
  "/home/%/.nvm/versions/node/%/lib",
  "/home/%/.asdf/installs/nodejs/%/lib",
  "/home/%/.local/share/fnm/node-versions/%/installation/lib",
  "/home/%/.local/share/mise/installs/node/%/lib",
  "/home/%/.volta/tools/image/node/%/lib",
];

/** How deep nested node_modules are followed (osquery's default max_depth). */
const NODE_MAX_DEPTH = 100;

/** The npm_packages fields of a package.json; null fields when it is not a JSON object. */
export function parsePackageJson(text: string): { name: string | null; version: string | null; description: string | null; author: string | null; license: string | null; homepage: string | null } | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return undefined;
  const o = doc as Record<string, unknown>;
  const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
  const author = o.author;
  const license = o.license;
  return {
    name: str(o.name),
    version: str(o.version),
    description: str(o.description),
    homepage: str(o.homepage),
    // `author` is "Name <mail> (url)" or {name, email, url}; `license` an SPDX string or the legacy {type, url}.
    author: typeof author === "object" && author !== null ? str((author as Record<string, unknown>).name) : str(author),
    license: typeof license === "object" && license !== null ? str((license as Record<string, unknown>).type) ?? str((license as Record<string, unknown>).url) : str(license),
  };
}

/** The package directories directly inside `dir`/node_modules: `name/` and `@scope/name/`. */
function moduleDirs(ctx: TableContext, dir: string): string[] {
  const modules = `${dir}/node_modules`;
  const found: string[] = [];
  for (const name of listDir(ctx.hostPath(modules))) {
    if (name.startsWith(".")) continue;
    if (name.startsWith("@")) {
      for (const sub of listDir(ctx.hostPath(`${modules}/${name}`))) if (!sub.startsWith(".")) found.push(`${modules}/${name}/${sub}`);
    } else {
      found.push(`${modules}/${name}`);
    }
  }
  return found;
}

/** `npm_packages`: Node.js packages installed globally (and their nested dependencies). */
export const npmPackagesTable = defineTable({
  name: "npm_packages",
  description:
    "Node.js packages under the global node_modules of /usr/lib, /usr/local/lib and the nvm, asdf, fnm, mise, volta and npm-global prefixes of /home/*, with their nested node_modules (osquery: npm_packages).",
  platforms: ["linux"],
  platformNote: "it reads Linux node_modules directories",
  columns: [
    { name: "name", type: "TEXT", description: "Package name" },
    { name: "version", type: "TEXT", description: "Package version" },
    { name: "description", type: "TEXT", description: "Package description" },
    { name: "author", type: "TEXT", description: "Author name" },
    { name: "license", type: "TEXT", description: "License" },
    { name: "homepage", type: "TEXT", description: "Homepage URL" },
    { name: "path", type: "TEXT", description: "The package's package.json" },
    { name: "directory", type: "TEXT", description: "Prefix whose node_modules holds the package (e.g. /usr/lib)" },
    { name: "depth", type: "INTEGER", description: "Nesting depth: 0 for a top-level package, 1 for one in its node_modules, ..." },
  ],
  *rows(ctx) {
    for (const pattern of NODE_PREFIXES) {
      for (const prefix of expandHostPattern(ctx, pattern)) {
        // Depth-first like osquery, remembering visited directories (by device and inode) so symlink loops end.
        const visited = new Set<string>();
        const stack: { dir: string; depth: number }[] = [{ dir: prefix, depth: 0 }];
        while (stack.length > 0) {
          const { dir, depth } = stack.pop()!;
          try {
            const st = lstatSync(ctx.hostPath(dir));
            const key = `${st.dev}:${st.ino}`;
            if (visited.has(key)) continue;
            visited.add(key);
          } catch {
            continue;
          }
          for (const pkg of moduleDirs(ctx, dir)) {
            const path = `${pkg}/package.json`;
            const text = readFileText(ctx.hostPath(path));
            if (text === undefined) continue;
            const fields = parsePackageJson(text) ?? { name: null, version: null, description: null, author: null, license: null, homepage: null };
            yield { ...fields, path, directory: prefix, depth };
            if (depth < NODE_MAX_DEPTH && isDirectory(ctx.hostPath(`${pkg}/node_modules`))) stack.push({ dir: pkg, depth: depth + 1 });
          }
        }
      }
    }
  },
});
