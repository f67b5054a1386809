import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { parseAuthorizedKey, parseShellHistory, privateKeyFacts } from "./secrets.js";

describe("secret table parsers", () => {
  it("parses authorized_keys lines with options holding quoted spaces", () => {
    expect(parseAuthorizedKey('command="echo a b",no-pty ssh-rsa AAAAB3 me@host here')).toEqual({
      algorithm: "ssh-rsa",
      key: "AAAAB3",
      options: 'command="echo a b",no-pty',
      comment: "me@host here",
    });
    expect(parseAuthorizedKey("# a comment")).toBeUndefined();
    expect(parseAuthorizedKey("garbage")).toBeUndefined();
  });

  it("reads bash timestamps, zsh extended history and plain lines", () => {
    expect(parseShellHistory("#1700000000\nls -l\n: 1700000001:0;git status\nplain\n")).toEqual([
      { time: 1700000000, command: "ls -l" },
      { time: 1700000001, command: "git status" },
      { time: 0, command: "plain" },
    ]);
  });

  it("tells encrypted PEM keys from plain ones and ignores other files", () => {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 1024 });
    const plain = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
    const encrypted = privateKey.export({ type: "pkcs8", format: "pem", cipher: "aes-128-cbc", passphrase: "pw" }).toString();
    expect(privateKeyFacts(plain)).toEqual({ encrypted: false, keyType: "rsa", keyLength: -1 });
    expect(privateKeyFacts(encrypted)).toMatchObject({ encrypted: true });
    expect(privateKeyFacts("ssh-ed25519 AAAA me")).toBeUndefined();
  });
});
