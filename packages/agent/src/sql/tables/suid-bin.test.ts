import { describe, expect, it } from "vitest";
import { suidPermissions } from "./suid-bin.js";

describe("suidPermissions", () => {
  it("writes S for set-user-id and G for set-group-id", () => {
    expect(suidPermissions(0o104755)).toBe("S");
    expect(suidPermissions(0o102755)).toBe("G");
    expect(suidPermissions(0o106755)).toBe("SG");
    expect(suidPermissions(0o100755)).toBe("");
  });
});
