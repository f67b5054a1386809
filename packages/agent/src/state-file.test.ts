import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { StateFileError } from "./errors.js";
import { readStateFile, writeStateFile, type AgentState } from "./state-file.js";

const state: AgentState = {
  hub: "http://127.0.0.1:7070",
  agentId: "agt_1",
  agentKey: "agt_1.s3cret",
  labels: { env: "prod" },
  hostname: "web-1",
};

describe("state file", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "uplink-state-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("is written with mode 0600 and read back", async () => {
    const path = join(dir, "state.json");
    await writeStateFile(path, state);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    await expect(readStateFile(path)).resolves.toEqual(state);
  });

  it("replaces a pre-existing world-readable file with a 0600 one", async () => {
    const path = join(dir, "state.json");
    await writeFile(path, "{}", { mode: 0o644 });
    await writeStateFile(path, state);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(["state.json"]);
  });

  it("leaves no temporary file when the write fails", async () => {
    const path = join(dir, "missing-dir", "state.json");
    await expect(writeStateFile(path, state)).rejects.toBeInstanceOf(StateFileError);
    expect(await readdir(dir)).toEqual([]);
  });

  it("names the path and the fix when the file is missing", async () => {
    const path = join(dir, "nope.json");
    await expect(readStateFile(path)).rejects.toThrow(`cannot read state file ${path} (run \`uplink-agent enroll\` first)`);
  });

  it("refuses a malformed file", async () => {
    const path = join(dir, "state.json");
    await writeFile(path, JSON.stringify({ hub: "http://h:1", agentId: "a" }));
    await expect(readStateFile(path)).rejects.toThrow(/malformed: agentKey/);
    await writeFile(path, "{oops");
    await expect(readStateFile(path)).rejects.toThrow(/is not JSON/);
  });
});
