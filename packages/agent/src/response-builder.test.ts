import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { sourceFiles } from "../../../test/fixtures/source-files.js";

const SRC = fileURLToPath(new URL(".", import.meta.url));

describe("session_response construction", () => {
  it("happens only in @uplink/protocol's buildResponse: no agent source spells the type", async () => {
    const files = await sourceFiles(SRC);
    expect(files.length).toBeGreaterThan(5);
    const offenders: string[] = [];
    for (const file of files) {
      if (/["'`]session_response["'`]/.test(await readFile(file, "utf8"))) offenders.push(file);
    }
    expect(offenders).toEqual([]);
  });
});
