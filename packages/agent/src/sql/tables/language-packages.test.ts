import { userInfo } from "node:os";
import { afterEach, describe, expect, it } from "vitest";
import { NO_CONSTRAINTS } from "../table-def.js";
import { fakeHost, type FakeHost } from "../../../test/fake-host.js";
import { npmPackagesTable, parsePackageJson, parsePythonMetadata, pythonPackagesTable } from "./language-packages.js";

describe("parsePythonMetadata", () => {
  it("reads the header up to the first blank line, first occurrence winning", () => {
    const text = "Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\nSummary: Python HTTP for Humans.\nAuthor: Kenneth Reitz\nLicense: Apache 2.0\nClassifier: License :: OSI\nName: other\n\nLicense: in the body\n";
    expect(parsePythonMetadata(text)).toEqual({ name: "requests", version: "2.31.0", summary: "Python HTTP for Humans.", author: "Kenneth Reitz", license: "Apache 2.0" });
  });

  it("falls back to Author-email and License-Expression, and treats UNKNOWN as absent", () => {
    const text = "Name: uv-thing\nVersion: 1.0\nAuthor-email: Jane <jane@example.com>\nLicense: UNKNOWN\nLicense-Expression: MIT\n";
    expect(parsePythonMetadata(text)).toMatchObject({ author: "Jane <jane@example.com>", license: "MIT", summary: null });
  });
});

describe("parsePackageJson", () => {
  it("reads string fields, an author object's name and a legacy license object", () => {
    const text = JSON.stringify({ name: "@scope/x", version: "1.2.3", description: "d", homepage: "https://x", author: { name: "Ann", email: "a@x" }, license: { type: "MIT", url: "u" } });
    expect(parsePackageJson(text)).toEqual({ name: "@scope/x", version: "1.2.3", description: "d", homepage: "https://x", author: "Ann", license: "MIT" });
  });

  it("gives undefined for text that is not a JSON object", () => {
    expect(parsePackageJson("[1,2]")).toBeUndefined();
    expect(parsePackageJson("{oops")).toBeUndefined();
  });
});

describe("python_packages", () => {
  let host: FakeHost;
  afterEach(() => host.remove());

  it("lists dist-info and egg-info packages of system sites (uid 0) and of a user's site (their uid)", () => {
    host = fakeHost();
    host.write("/usr/lib/python3.11/dist-packages/six-1.16.0.dist-info/METADATA", "Name: six\nVersion: 1.16.0\nSummary: Py2/3 compat\n");
    host.write("/usr/local/lib/python3.11/site-packages/legacy.egg-info/PKG-INFO", "Name: legacy\nVersion: 0.1\n");
    host.write("/usr/local/lib/python3.11/site-packages/not_a_package/x.py", "");
    const me = userInfo();
    const home = me.homedir.replace(/\/+$/, "");
    // The table looks for user sites only in the homes /etc/passwd lists.
    host.write("/etc/passwd", `${me.username}:x:${me.uid}:${me.gid}::${home}:/bin/sh\n`);
    host.write(`${home}/.local/lib/python3.12/site-packages/mine-2.0.dist-info/METADATA`, "Name: mine\nVersion: 2.0\nAuthor: Me\n");
    const rows = [...pythonPackagesTable.rows(host.ctx(), NO_CONSTRAINTS)];
    expect(rows).toContainEqual({
      name: "six",
      uid: 0,
      version: "1.16.0",
      summary: "Py2/3 compat",
      author: null,
      license: null,
      path: "/usr/lib/python3.11/dist-packages/six-1.16.0.dist-info",
      directory: "/usr/lib/python3.11/dist-packages",
    });
    expect(rows).toContainEqual(expect.objectContaining({ name: "legacy", path: "/usr/local/lib/python3.11/site-packages/legacy.egg-info" }));
    expect(rows).toContainEqual(expect.objectContaining({ name: "mine", uid: me.uid, directory: `${home}/.local/lib/python3.12/site-packages` }));
    expect(rows).toHaveLength(3);
  });
});

describe("npm_packages", () => {
  let host: FakeHost;
  afterEach(() => host.remove());

  it("lists global packages, scoped ones, and nested dependencies with their depth", () => {
    host = fakeHost();
    host.write("/usr/lib/node_modules/npm/package.json", JSON.stringify({ name: "npm", version: "10.0.0", license: "Artistic-2.0" }));
    host.write("/usr/lib/node_modules/npm/node_modules/abbrev/package.json", JSON.stringify({ name: "abbrev", version: "2.0.0" }));
    host.write("/usr/lib/node_modules/@pnpm/exe/package.json", JSON.stringify({ name: "@pnpm/exe", version: "9.0.0", author: "Zoltan" }));
    host.write("/usr/lib/node_modules/broken/package.json", "{not json");
    const rows = [...npmPackagesTable.rows(host.ctx(), NO_CONSTRAINTS)];
    expect(rows).toContainEqual({
      name: "npm",
      version: "10.0.0",
      description: null,
      author: null,
      license: "Artistic-2.0",
      homepage: null,
      path: "/usr/lib/node_modules/npm/package.json",
      directory: "/usr/lib",
      depth: 0,
    });
    expect(rows).toContainEqual(expect.objectContaining({ name: "abbrev", depth: 1, directory: "/usr/lib" }));
    expect(rows).toContainEqual(expect.objectContaining({ name: "@pnpm/exe", author: "Zoltan", depth: 0 }));
    expect(rows).toContainEqual(expect.objectContaining({ name: null, path: "/usr/lib/node_modules/broken/package.json" }));
    expect(rows).toHaveLength(4);
  });
});
