import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ERROR_CODE_LIST } from "./constants.js";

const docs = readFileSync(new URL("../../../docs/protocol.md", import.meta.url), "utf8");

describe("ERROR_CODES", () => {
  it.each(ERROR_CODE_LIST)("%s is documented in docs/protocol.md", (code) => {
    expect(docs).toMatch(new RegExp(`^\\| \`${code}\` \\|`, "m"));
  });

  it("documents no code that does not exist", () => {
    const documented = [...docs.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]);
    expect(documented.filter((c) => !ERROR_CODE_LIST.includes(c as never))).toEqual([]);
  });
});
