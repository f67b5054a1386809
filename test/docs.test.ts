import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { HUB_SETTINGS } from "../packages/hub/src/config.js";
import { ERROR_CODE_LIST, ERROR_CODES, type ErrorSpec } from "../packages/protocol/src/error-codes.js";

const readme = readFileSync(join(import.meta.dirname, "..", "README.md"), "utf8");

describe("README configuration table", () => {
  it.each(HUB_SETTINGS.map((s) => [s.flag.split(" ")[0]!, s.env]))("documents %s with %s", (flag, env) => {
    expect(readme).toMatch(new RegExp(`^\\| \`${flag}\` \\| \`${env}\` \\|`, "m"));
  });
});

describe("docs/architecture.md", () => {
  const root = join(import.meta.dirname, "..");
  const architecture = readFileSync(join(root, "docs", "architecture.md"), "utf8");
  const rules = new Set([...architecture.matchAll(/^(\d+)\. /gm)].map((m) => Number(m[1])));
  const sources = execFileSync("git", ["ls-files", "packages/*/src/*.ts", "packages/*/src/**/*.ts"], { cwd: root, encoding: "utf8" }).split("\n").filter(Boolean);

  it("numbers every rule that a source comment cites", () => {
    const cited = sources.flatMap((file) =>
      [...readFileSync(join(root, file), "utf8").matchAll(/\brules? (\d+)/gi)].map((m) => ({ file, rule: Number(m[1]) })),
    );
    expect(cited.length).toBeGreaterThan(0);
    expect(cited.filter((c) => !rules.has(c.rule))).toEqual([]);
  });

  it("is where comments point: none cites a design document outside the repository", () => {
    expect(sources.filter((file) => /DESIGN(\.md| §)/.test(readFileSync(join(root, file), "utf8")))).toEqual([]);
  });
});

describe("docs/protocol.md error table", () => {
  const protocol = readFileSync(join(import.meta.dirname, "..", "docs", "protocol.md"), "utf8");
  const rows = new Map([...protocol.matchAll(/^\| `([a-z_]+)` \| ([^|]+) \| ([^|]+) \|/gm)].map((m) => [m[1]!, { status: m[2]!.trim(), retryable: m[3]!.trim() }]));
  const documented = (spec: ErrorSpec) => ({
    status: spec.status === null ? "—" : spec.agentStatus === undefined ? String(spec.status) : `${spec.status} / ${spec.agentStatus}`,
    retryable: spec.status === null ? "—" : spec.retryable ? "yes" : "no",
  });

  it.each(ERROR_CODE_LIST)("shows %s with the registry's status and retryability", (code) => {
    expect(rows.get(code)).toEqual(documented(ERROR_CODES[code]));
  });

  it("documents no code that does not exist", () => {
    expect([...rows.keys()].filter((code) => !ERROR_CODE_LIST.includes(code as never))).toEqual([]);
  });
});
