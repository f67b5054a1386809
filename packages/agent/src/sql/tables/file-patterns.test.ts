import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expandPattern } from "./file-patterns.js";

describe("expandPattern", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "uplink-patterns-"));
    for (const user of ["alice", "bob"]) {
      mkdirSync(join(dir, "home", user, ".ssh"), { recursive: true });
      writeFileSync(join(dir, "home", user, ".ssh", "authorized_keys"), "");
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const host = (p: string): string => join(dir, p);

  it("matches % within one segment and keeps literal segments", () => {
    expect([...expandPattern("/home/%/.ssh/authorized_keys", host)]).toEqual(["/home/alice/.ssh/authorized_keys", "/home/bob/.ssh/authorized_keys"]);
    expect([...expandPattern("/home/a%", host)]).toEqual(["/home/alice"]);
  });

  it("lists every path below a %% segment", () => {
    expect([...expandPattern("/home/bob/%%", host)]).toEqual(["/home/bob/.ssh", "/home/bob/.ssh/authorized_keys"]);
  });

  it("expands nothing for a relative pattern or a missing directory", () => {
    expect([...expandPattern("home/%", host)]).toEqual([]);
    expect([...expandPattern("/nowhere/%", host)]).toEqual([]);
  });
});
