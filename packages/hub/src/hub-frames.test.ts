import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { sourceFiles } from "../../../test/fixtures/source-files.js";

const SRC = fileURLToPath(new URL(".", import.meta.url));

describe("hub → agent frame construction", () => {
  it("happens only in @uplink/protocol's builders: no hub source spells a frame type it sends", async () => {
    const files = await sourceFiles(SRC);
    expect(files.length).toBeGreaterThan(20);
    const offenders: string[] = [];
    for (const file of files) {
      // Code only: comments may name the frames they describe.
      const text = (await readFile(file, "utf8"))
        .split("\n")
        .filter((line) => !/^\s*(\*|\/\*|\/\/)/.test(line))
        .join("\n");
      if (/["'`](session_command|welcome)["'`]/.test(text) || /type:\s*["'`]cancel["'`]/.test(text)) offenders.push(file);
    }
    expect(offenders).toEqual([]);
  });
});
