import { createHash } from "node:crypto";
import { defineTable, type TableContext } from "../table-def.js";
import { jsonObject, obj, str, type Json } from "./browser-json.js";
import { isDirectory, listDir, readFileText, userHomes } from "./host-files.js";

/** Chromium-family profile roots under a home directory on Linux, with osquery's browser_type names. */
const CHROME_ROOTS: readonly [string, string][] = [
  ["chrome", ".config/google-chrome"],
  ["chrome_beta", ".config/google-chrome-beta"],
  ["chrome_dev", ".config/google-chrome-unstable"],
  ["brave", ".config/BraveSoftware/Brave-Browser"],
  ["brave_beta", ".config/BraveSoftware/Brave-Browser-Beta"],
  ["brave_nightly", ".config/BraveSoftware/Brave-Browser-Nightly"],
  ["chromium", ".config/chromium"],
  ["chromium", "snap/chromium/common/chromium"],
  ["yandex", ".config/yandex-browser-beta"],
  ["edge", ".config/microsoft-edge"],
  ["edge_beta", ".config/microsoft-edge-beta"],
  ["edge_dev", ".config/microsoft-edge-dev"],
  ["opera", ".config/opera"],
  ["vivaldi", ".config/vivaldi"],
];


/**
 * The extension id Chrome derives from a manifest's `key` (the extension's public key, base64): the
 * first 128 bits of its SHA-256, each hex digit written as a letter from a to p.
 */
export function chromeExtensionId(base64Key: string): string {
  const digest = createHash("sha256").update(Buffer.from(base64Key, "base64")).digest("hex").slice(0, 32);
  return [...digest].map((c) => String.fromCharCode(97 + parseInt(c, 16))).join("");
}

/** Resolves a `__MSG_name__` placeholder from the extension's _locales/<locale>/messages.json (keys are case-insensitive). */
function localize(value: string | null, messages: Json | undefined): string | null {
  const m = /^__MSG_(.+)__$/.exec(value ?? "");
  if (m === null || messages === undefined) return value;
  const wanted = (m[1] as string).toLowerCase();
  for (const [k, v] of Object.entries(messages)) if (k.toLowerCase() === wanted) return str(obj(v)?.message) ?? value;
  return value;
}

/** A permission list of a manifest as osquery shows it: strings joined with ", " (objects as JSON). */
const permissionList = (v: unknown): string => (Array.isArray(v) ? v.map((p) => (typeof p === "string" ? p : JSON.stringify(p))).join(", ") : "");

/** Microseconds since 1601-01-01 (Chrome's "WebKit" time) as Unix seconds; 0 when absent or malformed. */
export function webkitToUnix(webkit: string | null): number {
  if (webkit === null || !/^\d+$/.test(webkit)) return 0;
  const seconds = Number(BigInt(webkit) / 1_000_000n) - 11_644_473_600;
  return seconds > 0 ? seconds : 0;
}

/** The row fields a manifest.json yields (everything but the profile and preferences columns). */
export function manifestFields(manifestText: string, messages: Json | undefined) {
  const m = jsonObject(manifestText) ?? {};
  const author = obj(m.author) !== undefined ? str(obj(m.author)?.email) : str(m.author);
  return {
    name: localize(str(m.name), messages),
    version: str(m.version),
    description: localize(str(m.description), messages),
    default_locale: str(m.default_locale),
    update_url: str(m.update_url),
    author: author ?? "",
    persistent: obj(m.background)?.persistent === true ? 1 : 0,
    permissions: permissionList(m.permissions),
    optional_permissions: permissionList(m.optional_permissions),
    computedId: typeof m.key === "string" ? chromeExtensionId(m.key) : "",
    manifest_hash: createHash("sha256").update(manifestText).digest("hex"),
  };
}

/** extensions.settings of a profile's Preferences and Secure Preferences, merged (Secure wins). */
function extensionSettings(ctx: TableContext, profile: string): { settings: Map<string, Json>; name: string | null } {
  const settings = new Map<string, Json>();
  let name: string | null = null;
  for (const file of ["Preferences", "Secure Preferences"]) {
    const prefs = jsonObject(readFileText(ctx.hostPath(`${profile}/${file}`)));
    if (prefs === undefined) continue;
    name ??= str(obj(prefs.profile)?.name);
    for (const [id, s] of Object.entries(obj(obj(prefs.extensions)?.settings) ?? {})) {
      const o = obj(s);
      if (o !== undefined) settings.set(id, { ...(settings.get(id) ?? {}), ...o });
    }
  }
  return { settings, name };
}

/** `chrome_extensions`: extensions of every Chromium-family browser profile in users' homes. */
export const chromeExtensionsTable = defineTable({
  name: "chrome_extensions",
  description:
    "Extensions of the profiles of Chrome, Chromium, Brave, Edge, Opera, Vivaldi and Yandex under each user's home: those installed in <profile>/Extensions/<id>/<version>/ and unpacked ones the profile's Preferences load from elsewhere (osquery: chrome_extensions).",
  platforms: ["linux"],
  platformNote: "it reads Linux browser profiles",
  columns: [
    { name: "browser_type", type: "TEXT", description: "Browser: chrome, chrome_beta, chrome_dev, chromium, brave, edge, opera, vivaldi, yandex, ..." },
    { name: "uid", type: "INTEGER", description: "Owner of the home directory the profile is in" },
    { name: "name", type: "TEXT", description: "Extension name (localized from its default locale)" },
    { name: "profile", type: "TEXT", description: "Profile name from its Preferences" },
    { name: "profile_path", type: "TEXT", description: "Profile directory" },
    { name: "referenced_identifier", type: "TEXT", description: "Extension id: its directory name under Extensions" },
    { name: "identifier", type: "TEXT", description: "Extension id computed from the manifest's key; empty when it has none" },
    { name: "version", type: "TEXT", description: "Extension version" },
    { name: "description", type: "TEXT", description: "Extension description" },
    { name: "default_locale", type: "TEXT", description: "Default locale of the extension" },
    { name: "current_locale", type: "TEXT", description: "Locale in use; null (the browser's locale is not recorded in the profile)" },
    { name: "update_url", type: "TEXT", description: "Update URL" },
    { name: "author", type: "TEXT", description: "Author (or author e-mail)" },
    { name: "persistent", type: "INTEGER", description: "1 when its background page is persistent, else 0" },
    { name: "path", type: "TEXT", description: "Extension directory (the version directory)" },
    { name: "permissions", type: "TEXT", description: "Permissions, comma-separated" },
    { name: "optional_permissions", type: "TEXT", description: "Optional permissions, comma-separated" },
    { name: "manifest_hash", type: "TEXT", description: "SHA-256 of manifest.json" },
    { name: "referenced", type: "INTEGER", description: "1 when the profile's Preferences list the extension, else 0" },
    { name: "from_webstore", type: "TEXT", description: "true when installed from the web store (from Preferences)" },
    { name: "state", type: "TEXT", description: "1 when enabled (from Preferences)" },
    { name: "install_time", type: "TEXT", description: "Install time as Preferences store it (WebKit microseconds)" },
    { name: "install_timestamp", type: "INTEGER", description: "Install time, Unix seconds (0 when unknown)" },
  ],
  *rows(ctx) {
    for (const { uid, home } of userHomes(ctx)) {
      for (const [browser, rel] of CHROME_ROOTS) {
        const root = `${home}/${rel}`;
        for (const entry of listDir(ctx.hostPath(root))) {
          const profile = `${root}/${entry}`;
          const extensionsDir = `${profile}/Extensions`;
          const hasExtensions = isDirectory(ctx.hostPath(extensionsDir));
          const { settings, name: profileName } = extensionSettings(ctx, profile);
          if (!hasExtensions && settings.size === 0) continue;
          // Installed extensions: Extensions/<id>/<version>/; then unpacked ones the profile loads from
          // elsewhere (their settings carry an absolute path), as osquery lists both.
          const found: { id: string; path: string }[] = [];
          for (const id of hasExtensions ? listDir(ctx.hostPath(extensionsDir)) : []) {
            for (const version of listDir(ctx.hostPath(`${extensionsDir}/${id}`))) found.push({ id, path: `${extensionsDir}/${id}/${version}` });
          }
          for (const [id, s] of settings) {
            const path = str(s.path);
            if (path !== null && path.startsWith("/")) found.push({ id, path: path.replace(/\/+$/, "") });
          }
          for (const { id, path } of found) {
            const manifestText = readFileText(ctx.hostPath(`${path}/manifest.json`));
            if (manifestText === undefined) continue;
            const locale = str(jsonObject(manifestText)?.default_locale);
            const messages = locale === null ? undefined : jsonObject(readFileText(ctx.hostPath(`${path}/_locales/${locale}/messages.json`)));
            const { computedId, ...fields } = manifestFields(manifestText, messages);
            const s = settings.get(id);
            const installTime = str(s?.install_time);
            yield {
              browser_type: browser,
              uid,
              ...fields,
              profile: profileName,
              profile_path: profile,
              referenced_identifier: id,
              identifier: computedId,
              current_locale: null,
              path,
              referenced: s === undefined ? 0 : 1,
              from_webstore: str(s?.from_webstore),
              state: str(s?.state),
              install_time: installTime,
              install_timestamp: webkitToUnix(installTime),
            };
          }
        }
      }
    }
  },
});

/** Where osquery looks for Opera's extensions under a home directory on Linux: Opera keeps one profile there. */
const OPERA_EXTENSIONS = ".config/opera/Extensions";

/** `opera_extensions`: extensions of each user's Opera profile (osquery's older, Opera-only table). */
export const operaExtensionsTable = defineTable({
  name: "opera_extensions",
  description: `Extensions of each user's Opera profile: ~/${OPERA_EXTENSIONS}/<id>/<version>/manifest.json, as osquery reads them (osquery: opera_extensions).`,
  platforms: ["linux"],
  platformNote: "it reads Linux browser profiles",
  columns: [
    { name: "uid", type: "INTEGER", description: "Owner of the home directory the profile is in" },
    { name: "name", type: "TEXT", description: "Extension name (localized from its default locale)" },
    { name: "identifier", type: "TEXT", description: "Extension id: its directory name under Extensions" },
    { name: "version", type: "TEXT", description: "Extension version" },
    { name: "description", type: "TEXT", description: "Extension description" },
    { name: "locale", type: "TEXT", description: "Default locale of the extension" },
    { name: "update_url", type: "TEXT", description: "Update URL" },
    { name: "author", type: "TEXT", description: "Author (or author e-mail)" },
    { name: "persistent", type: "INTEGER", description: "1 when its background page is persistent, else 0" },
    { name: "path", type: "TEXT", description: "Extension directory (the version directory)" },
  ],
  *rows(ctx) {
    for (const { uid, home } of userHomes(ctx)) {
      const root = `${home}/${OPERA_EXTENSIONS}`;
      for (const id of listDir(ctx.hostPath(root))) {
        for (const version of listDir(ctx.hostPath(`${root}/${id}`))) {
          const path = `${root}/${id}/${version}`;
          const manifestText = readFileText(ctx.hostPath(`${path}/manifest.json`));
          if (manifestText === undefined) continue;
          const locale = str(jsonObject(manifestText)?.default_locale);
          const messages = locale === null ? undefined : jsonObject(readFileText(ctx.hostPath(`${path}/_locales/${locale}/messages.json`)));
          const m = manifestFields(manifestText, messages);
          yield {
            uid,
            name: m.name,
            identifier: id,
            version: m.version,
            description: m.description,
            locale: m.default_locale,
            update_url: m.update_url,
            author: m.author,
            persistent: m.persistent,
            path,
          };
        }
      }
    }
  },
});
