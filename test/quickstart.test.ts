import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { freePort } from "./fixtures/cluster.js";
import { childEnv, REPO_ROOT } from "./fixtures/process.js";

const SCRIPT = join(REPO_ROOT, "scripts/quickstart.sh");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function quickstart(env: Record<string, string>, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile("bash", [SCRIPT, ...args], { cwd: REPO_ROOT, env: childEnv(env), timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === "number" ? err.code : 1, stdout, stderr });
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** True when nothing listens on 127.0.0.1:`port` (a listen there succeeds). */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

describe("scripts/quickstart.sh", () => {
  const dirs: string[] = [];
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("starts a hub and an agent, answers a first query, and `stop` leaves no process behind and the port free", async () => {
    const dir = mkdtempSync(join(tmpdir(), "uplink-quickstart-"));
    dirs.push(dir);
    const env = { UPLINK_QUICKSTART_DIR: dir, UPLINK_PORT: String(await freePort()) };
    cleanups.push(() => quickstart(env, "stop"));

    const started = await quickstart(env);
    expect(started.code, started.stderr).toBe(0);
    expect(started.stdout).toMatch(/agt_[0-9a-f]+\s+\S+\s+online/);
    expect(started.stdout).toMatch(/^1 row in /m);
    const pids = ["hub", "agent"].map((name) => Number(readFileSync(join(dir, `${name}.pid`), "utf8")));
    expect(pids.every(alive)).toBe(true);

    const stopped = await quickstart(env, "stop");
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toContain(`stopped agent (pid ${pids[1]})`);
    expect(stopped.stdout).toContain(`stopped hub (pid ${pids[0]})`);
    expect(pids.filter(alive)).toEqual([]);
    expect(await portFree(Number(env.UPLINK_PORT))).toBe(true);

    const again = await quickstart(env, "stop");
    expect(again.stdout).toContain("nothing to stop");
  });

  it("refuses to start when another process holds the port, and starts nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "uplink-quickstart-"));
    dirs.push(dir);
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise((resolve) => squatter.close(resolve)));
    const port = (squatter.address() as { port: number }).port;

    const run = await quickstart({ UPLINK_QUICKSTART_DIR: dir, UPLINK_PORT: String(port) });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`port ${port} on 127.0.0.1 is already in use by another process`);
    expect(() => readFileSync(join(dir, "hub.pid"))).toThrow();
  });
});
