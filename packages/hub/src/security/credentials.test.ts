import { describe, expect, it } from "vitest";
import { bearer, hashSecret, newId, newSecret, parseCredential, secretMatches } from "./credentials.js";

describe("credentials", () => {
  it("makes ids with their prefix and secrets of 256 bits", () => {
    expect(newId("agt")).toMatch(/^agt_[0-9a-f]{16}$/);
    const { secret, secretHash } = newSecret();
    expect(Buffer.from(secret, "base64url")).toHaveLength(32);
    expect(secretHash).toBe(hashSecret(secret));
  });

  it("splits <id>.<secret> and refuses malformed values", () => {
    expect(parseCredential("tok_1.abc")).toEqual({ id: "tok_1", secret: "abc" });
    expect(parseCredential("tok_1.a.b")).toEqual({ id: "tok_1", secret: "a.b" });
    for (const bad of ["", ".", "tok_1", "tok_1.", ".secret", `a.${"x".repeat(600)}`]) expect(parseCredential(bad)).toBeUndefined();
  });

  it("checks a secret against its hash", () => {
    const { secret, secretHash } = newSecret();
    expect(secretMatches(secret, secretHash)).toBe(true);
    expect(secretMatches(`${secret}x`, secretHash)).toBe(false);
    expect(secretMatches(secret, "not-hex")).toBe(false);
  });

  it("reads a bearer header", () => {
    expect(bearer("Bearer abc.def")).toBe("abc.def");
    expect(bearer("bearer  abc")).toBe("abc");
    expect(bearer("Basic abc")).toBeUndefined();
    expect(bearer(undefined)).toBeUndefined();
  });
});
