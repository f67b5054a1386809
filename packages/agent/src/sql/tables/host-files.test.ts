import { execFileSync } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { fakeHost, type FakeHost } from "../../../test/fake-host.js";
import { expandHostPattern, readFileText, readHostText } from "./host-files.js";

describe("host files", () => {
  let host: FakeHost;
  afterEach(() => host.remove());

  it("reads regular files only: a directory or a FIFO reads as absent, without blocking", () => {
    host = fakeHost();
    host.write("/etc/hosts", "127.0.0.1 localhost\n");
    host.mkdir("/etc/cron.d");
    execFileSync("mkfifo", [`${host.root}/etc/trap`]);
    expect(readHostText(host.ctx(), "/etc/hosts")).toBe("127.0.0.1 localhost\n");
    expect(readHostText(host.ctx(), "/etc/cron.d")).toBeUndefined();
    expect(readHostText(host.ctx(), "/etc/trap")).toBeUndefined();
    expect(readFileText(`${host.root}/missing`)).toBeUndefined();
  });

  it("expands % within one segment, level by level, skipping hidden entries unless asked for", () => {
    host = fakeHost();
    host.mkdir("/usr/lib/python3.11/dist-packages");
    host.mkdir("/usr/lib/python3.12/site-packages");
    host.mkdir("/usr/lib/python3.12/dist-packages");
    host.mkdir("/usr/lib/.python3.9/dist-packages");
    host.mkdir("/home/ann/.nvm/versions/node/v20.1.0/lib");
    expect(expandHostPattern(host.ctx(), "/usr/lib/python%/dist-packages")).toEqual(["/usr/lib/python3.11/dist-packages", "/usr/lib/python3.12/dist-packages"]);
    expect(expandHostPattern(host.ctx(), "/home/%/.nvm/versions/node/%/lib")).toEqual(["/home/ann/.nvm/versions/node/v20.1.0/lib"]);
    expect(expandHostPattern(host.ctx(), "/opt/conda/lib/python%/site-packages")).toEqual([]);
  });
});
