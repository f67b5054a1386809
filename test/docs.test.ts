import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { HUB_SETTINGS } from "../packages/hub/src/config.js";

const readme = readFileSync(join(import.meta.dirname, "..", "README.md"), "utf8");

describe("README configuration table", () => {
  it.each(HUB_SETTINGS.map((s) => [s.flag.split(" ")[0]!, s.env]))("documents %s with %s", (flag, env) => {
    expect(readme).toMatch(new RegExp(`^\\| \`${flag}\` \\| \`${env}\` \\|`, "m"));
  });
});
