import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = fileURLToPath(new URL(".", import.meta.url));

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((e) => (e.isDirectory() ? sourceFiles(join(dir, e.name)) : Promise.resolve(e.name.endsWith(".ts") && !e.name.endsWith(".test.ts") ? [join(dir, e.name)] : []))),
  );
  return nested.flat();
}

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
