import { createHash } from "node:crypto";
import { userInfo } from "node:os";
import { afterEach, describe, expect, it } from "vitest";
import { NO_CONSTRAINTS } from "../table-def.js";
import { chromeExtensionId, chromeExtensionsTable, manifestFields, operaExtensionsTable, webkitToUnix } from "./browser-extensions.js";
import { firefoxAddonsTable, parseFirefoxExtensions } from "./firefox-addons.js";
import { fakeHost, type FakeHost } from "../../../test/fake-host.js";

/** A fake host whose /etc/passwd names this process's user and home: the browser tables look only in homes it lists. */
function withPasswd(): FakeHost {
  const me = userInfo();
  const host = fakeHost();
  host.write("/etc/passwd", `${me.username}:x:${me.uid}:${me.gid}::${me.homedir.replace(/\/+$/, "")}:/bin/sh\n`);
  return host;
}

describe("chrome extension helpers", () => {
  it("derives the id from the manifest key: the SHA-256's first 32 hex digits written a..p", () => {
    const key = Buffer.from("a public key").toString("base64");
    const hex = createHash("sha256").update("a public key").digest("hex").slice(0, 32);
    const id = chromeExtensionId(key);
    expect(id).toMatch(/^[a-p]{32}$/);
    expect(id.split("").map((c) => (c.charCodeAt(0) - 97).toString(16)).join("")).toBe(hex);
  });

  it("converts WebKit microseconds to Unix seconds", () => {
    expect(webkitToUnix("13347200000000000")).toBe(1_702_726_400);
    expect(webkitToUnix(null)).toBe(0);
    expect(webkitToUnix("garbage")).toBe(0);
  });

  it("localizes __MSG_ names and joins permissions", () => {
    const manifest = JSON.stringify({
      name: "__MSG_appName__",
      version: "1.2",
      default_locale: "en",
      description: "plain",
      author: { email: "dev@example.com" },
      permissions: ["tabs", { fileSystem: ["write"] }],
      background: { persistent: true },
    });
    expect(manifestFields(manifest, { APPNAME: { message: "My Ext" } })).toMatchObject({
      name: "My Ext",
      description: "plain",
      author: "dev@example.com",
      permissions: 'tabs, {"fileSystem":["write"]}',
      optional_permissions: "",
      persistent: 1,
      computedId: "",
    });
  });
});

describe("parseFirefoxExtensions", () => {
  it("maps extensions.json add-ons and any of the three disabled flags", () => {
    const text = JSON.stringify({
      schemaVersion: 36,
      addons: [
        {
          id: "uBlock0@raymondhill.net",
          type: "extension",
          version: "1.55.0",
          defaultLocale: { name: "uBlock Origin", creator: "Raymond Hill", description: "Finally." },
          sourceURI: "https://addons.mozilla.org/x.xpi",
          visible: true,
          active: true,
          userDisabled: false,
          appDisabled: false,
          applyBackgroundUpdates: 1,
          location: "app-profile",
          path: "/home/a/.mozilla/firefox/p/extensions/uBlock0@raymondhill.net.xpi",
        },
        { id: "off@example", type: "theme", visible: false, active: false, softDisable: true, applyBackgroundUpdates: 0 },
        "not an object",
      ],
    });
    const addons = parseFirefoxExtensions(text);
    expect(addons[0]).toEqual({
      name: "uBlock Origin",
      identifier: "uBlock0@raymondhill.net",
      creator: "Raymond Hill",
      type: "extension",
      version: "1.55.0",
      description: "Finally.",
      source_url: "https://addons.mozilla.org/x.xpi",
      visible: 1,
      active: 1,
      disabled: 0,
      autoupdate: 1,
      location: "app-profile",
      path: "/home/a/.mozilla/firefox/p/extensions/uBlock0@raymondhill.net.xpi",
    });
    expect(addons[1]).toMatchObject({ identifier: "off@example", disabled: 1, autoupdate: 0, name: null });
    expect(addons).toHaveLength(2);
    expect(parseFirefoxExtensions("{}")).toEqual([]);
  });
});

describe("browser tables in users' homes", () => {
  let host: FakeHost;
  afterEach(() => host.remove());
  const me = userInfo();
  const home = me.homedir.replace(/\/+$/, "");

  it("chrome_extensions reads each profile's extensions with their Preferences", () => {
    host = withPasswd();
    const profile = `${home}/.config/google-chrome/Default`;
    const key = Buffer.from("k").toString("base64");
    host.write(`${profile}/Preferences`, JSON.stringify({ profile: { name: "Person 1" }, extensions: { settings: { abcdefghijklmnopabcdefghijklmnop: { state: 1 } } } }));
    host.write(
      `${profile}/Secure Preferences`,
      JSON.stringify({ extensions: { settings: { abcdefghijklmnopabcdefghijklmnop: { install_time: "13347200000000000", from_webstore: true } } } }),
    );
    const manifest = JSON.stringify({ name: "__MSG_n__", version: "3.1", default_locale: "en", key, update_url: "https://clients2.google.com/service/update2/crx" });
    host.write(`${profile}/Extensions/abcdefghijklmnopabcdefghijklmnop/3.1_0/manifest.json`, manifest);
    host.write(`${profile}/Extensions/abcdefghijklmnopabcdefghijklmnop/3.1_0/_locales/en/messages.json`, JSON.stringify({ n: { message: "Named" } }));
    host.write(`${home}/.config/chromium/Profile 1/Extensions/zzzz/1.0/manifest.json`, JSON.stringify({ name: "Unreferenced", version: "1.0" }));
    host.write(`${home}/.config/vivaldi/Default/Preferences`, JSON.stringify({ extensions: { settings: { unpackedid: { path: `${home}/dev/my-ext/`, state: 0 }, relative: { path: "rel/1.0" } } } }));
    host.write(`${home}/dev/my-ext/manifest.json`, JSON.stringify({ name: "Dev build", version: "0.0.1" }));

    const rows = [...chromeExtensionsTable.rows(host.ctx(), NO_CONSTRAINTS)];
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatchObject({
      browser_type: "chrome",
      uid: me.uid,
      name: "Named",
      profile: "Person 1",
      profile_path: profile,
      referenced_identifier: "abcdefghijklmnopabcdefghijklmnop",
      identifier: chromeExtensionId(key),
      version: "3.1",
      path: `${profile}/Extensions/abcdefghijklmnopabcdefghijklmnop/3.1_0`,
      manifest_hash: createHash("sha256").update(manifest).digest("hex"),
      referenced: 1,
      from_webstore: "true",
      state: "1",
      install_time: "13347200000000000",
      install_timestamp: 1_702_726_400,
    });
    expect(rows[1]).toMatchObject({ browser_type: "chromium", name: "Unreferenced", profile: null, referenced: 0, state: null, install_timestamp: 0 });
    expect(rows[2]).toMatchObject({ browser_type: "vivaldi", name: "Dev build", referenced_identifier: "unpackedid", path: `${home}/dev/my-ext`, referenced: 1, state: "0" });
  });

  it("firefox_addons reads extensions.json of every profile", () => {
    host = withPasswd();
    host.write(`${home}/.mozilla/firefox/abcd.default-release/extensions.json`, JSON.stringify({ addons: [{ id: "a@b", type: "extension", visible: true }] }));
    host.write(`${home}/.mozilla/firefox/profiles.ini`, "[General]\n");
    expect([...firefoxAddonsTable.rows(host.ctx(), NO_CONSTRAINTS)]).toEqual([
      expect.objectContaining({ uid: me.uid, identifier: "a@b", type: "extension", visible: 1, active: 0, disabled: 0 }),
    ]);
  });

  it("answer no rows when no profile exists", () => {
    host = fakeHost();
    expect([...chromeExtensionsTable.rows(host.ctx(), NO_CONSTRAINTS)]).toEqual([]);
    expect([...firefoxAddonsTable.rows(host.ctx(), NO_CONSTRAINTS)]).toEqual([]);
  });
});

describe("opera_extensions", () => {
  let host: FakeHost;
  afterEach(() => host.remove());
  const me = userInfo();
  const home = me.homedir.replace(/\/+$/, "");

  it("reads ~/.config/opera/Extensions/<id>/<version>/manifest.json with osquery's columns", () => {
    host = withPasswd();
    const dir = `${home}/.config/opera/Extensions/gojhcdgcpbpfigcaejpfhfegekdgiblk/2.1_0`;
    host.write(`${dir}/manifest.json`, JSON.stringify({ name: "__MSG_app__", version: "2.1", default_locale: "en", author: { email: "a@example.com" }, background: { persistent: true } }));
    host.write(`${dir}/_locales/en/messages.json`, JSON.stringify({ APP: { message: "Opera Ad Blocker" } }));
    host.write(`${home}/.config/opera/Extensions/broken/1.0/manifest.json`, "{ not json");
    host.write(`${home}/.config/opera/Extensions/nomanifest/1.0/readme.txt`, "x");
    expect([...operaExtensionsTable.rows(host.ctx(), { equals: {}, likes: {} })]).toEqual([
      { uid: me.uid, name: null, identifier: "broken", version: null, description: null, locale: null, update_url: null, author: "", persistent: 0, path: `${home}/.config/opera/Extensions/broken/1.0` },
      {
        uid: me.uid,
        name: "Opera Ad Blocker",
        identifier: "gojhcdgcpbpfigcaejpfhfegekdgiblk",
        version: "2.1",
        description: null,
        locale: "en",
        update_url: null,
        author: "a@example.com",
        persistent: 1,
        path: dir,
      },
    ]);
  });

  it("answers no rows without an Opera profile", () => {
    host = fakeHost();
    expect([...operaExtensionsTable.rows(host.ctx(), { equals: {}, likes: {} })]).toEqual([]);
  });
});
