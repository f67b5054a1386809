import type { IncomingMessage } from "node:http";
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { installLine, publicUrlFor, shellQuote } from "./install-line.js";

const request = (host: string | undefined) => ({ headers: host === undefined ? {} : { host } }) as IncomingMessage;

describe("publicUrlFor", () => {
  it("prefers the configured URL, else the request's scheme and Host", () => {
    expect(publicUrlFor(request("10.0.0.1:7070"), "https://hub.example", false)).toBe("https://hub.example");
    expect(publicUrlFor(request("hub.example:7070"), undefined, false)).toBe("http://hub.example:7070");
    expect(publicUrlFor(request("[::1]:7070"), undefined, true)).toBe("https://[::1]:7070");
  });

  it("refuses a Host header that is not a plain host[:port]", () => {
    for (const host of [undefined, "", "hub'; rm -rf /", "hub$(id)", "hub/x", "a b", "hub:70a"]) {
      expect(publicUrlFor(request(host), undefined, false), String(host)).toBeUndefined();
    }
  });
});

describe("installLine", () => {
  it("keeps the token in the environment, quoted for the shell, never on a command line", () => {
    const line = installLine("http://hub:7070", "tok_1.a'b");
    expect(line).toBe(
      `export UPLINK_ENROLL_TOKEN='tok_1.a'"'"'b'; curl -fsSL 'http://hub:7070/install.sh' | sudo --preserve-env=UPLINK_ENROLL_TOKEN sh -s -- --label env=prod`,
    );
    // The shell reads the quoted token back exactly.
    expect(execFileSync("/bin/sh", ["-c", `printf %s ${shellQuote("tok_1.a'b $x")}`], { encoding: "utf8" })).toBe("tok_1.a'b $x");
  });
});
