import { defineTable } from "../table-def.js";
import { jsonObject, obj, str } from "./browser-json.js";
import { listDir, readFileText, userHomes } from "./host-files.js";

/** Firefox profile roots under a home directory on Linux (classic, snap, and the XDG location of Firefox 147+). */
const FIREFOX_ROOTS = [".mozilla/firefox", "snap/firefox/common/.mozilla/firefox", ".config/mozilla/firefox"];

/** One add-on of a Firefox profile's extensions.json. */
export interface FirefoxAddon {
  name: string | null;
  identifier: string | null;
  creator: string | null;
  type: string | null;
  version: string | null;
  description: string | null;
  source_url: string | null;
  visible: number;
  active: number;
  disabled: number;
  autoupdate: number;
  location: string | null;
  path: string | null;
}

/** Parses a profile's extensions.json (`{addons: [...]}`); disabled is any of softDisable, appDisabled, userDisabled, as in osquery. */
export function parseFirefoxExtensions(text: string): FirefoxAddon[] {
  const addons = jsonObject(text)?.addons;
  if (!Array.isArray(addons)) return [];
  const truthy = (v: unknown): number => (v === true || (typeof v === "number" && v !== 0) ? 1 : 0);
  const out: FirefoxAddon[] = [];
  for (const a of addons) {
    const o = obj(a);
    if (o === undefined) continue;
    const locale = obj(o.defaultLocale);
    out.push({
      name: str(locale?.name),
      identifier: str(o.id),
      creator: str(locale?.creator),
      type: str(o.type),
      version: str(o.version),
      description: str(locale?.description),
      source_url: str(o.sourceURI),
      visible: truthy(o.visible),
      active: truthy(o.active),
      disabled: truthy(o.softDisable) || truthy(o.appDisabled) || truthy(o.userDisabled) ? 1 : 0,
      autoupdate: truthy(o.applyBackgroundUpdates),
      location: str(o.location),
      path: str(o.path),
    });
  }
  return out;
}

/** `firefox_addons`: add-ons of every Firefox profile in users' homes. */
export const firefoxAddonsTable = defineTable({
  name: "firefox_addons",
  description:
    "Add-ons (extensions, themes, dictionaries, locales) of each Firefox profile under users' homes, from the profile's extensions.json (osquery: firefox_addons).",
  platforms: ["linux"],
  platformNote: "it reads Linux browser profiles",
  columns: [
    { name: "uid", type: "INTEGER", description: "Owner of the home directory the profile is in" },
    { name: "name", type: "TEXT", description: "Add-on name" },
    { name: "identifier", type: "TEXT", description: "Add-on id" },
    { name: "creator", type: "TEXT", description: "Creator" },
    { name: "type", type: "TEXT", description: "extension, theme, dictionary, locale, ..." },
    { name: "version", type: "TEXT", description: "Version" },
    { name: "description", type: "TEXT", description: "Description" },
    { name: "source_url", type: "TEXT", description: "URL it was installed from" },
    { name: "visible", type: "INTEGER", description: "1 when shown in the browser, else 0" },
    { name: "active", type: "INTEGER", description: "1 when active, else 0" },
    { name: "disabled", type: "INTEGER", description: "1 when disabled by the user, the application or a soft block, else 0" },
    { name: "autoupdate", type: "INTEGER", description: "1 when it updates in the background, else 0" },
    { name: "location", type: "TEXT", description: "Install location (app-profile, app-system-defaults, ...)" },
    { name: "path", type: "TEXT", description: "Path of the add-on's file or directory" },
  ],
  *rows(ctx) {
    for (const { uid, home } of userHomes(ctx)) {
      for (const rel of FIREFOX_ROOTS) {
        const root = `${home}/${rel}`;
        for (const profile of listDir(ctx.hostPath(root))) {
          const text = readFileText(ctx.hostPath(`${root}/${profile}/extensions.json`));
          if (text === undefined) continue;
          for (const addon of parseFirefoxExtensions(text)) yield { uid, ...addon };
        }
      }
    }
  },
});
