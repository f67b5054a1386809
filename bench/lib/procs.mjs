// Child processes of a bench: started, tracked, and always stopped (on success, on error, on Ctrl-C).
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

/** Preload that makes a child exit when its parent (the bench) disappears, e.g. after a SIGKILL. */
export const WATCHDOG = fileURLToPath(new URL("./watchdog.mjs", import.meta.url));

/** Children to stop and temp dirs to remove, whatever happens. */
export class ProcessGroup {
  /** @type {Set<import("node:child_process").ChildProcess>} */
  #children = new Set();
  /** @type {string[]} */
  #dirs = [];
  #onSignal = (signal) => {
    this.killSync();
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  #onExit = () => this.killSync();

  constructor() {
    process.once("SIGINT", this.#onSignal);
    process.once("SIGTERM", this.#onSignal);
    process.once("exit", this.#onExit);
  }

  /**
   * A fresh temp dir `<tmpdir>/<prefix>XXXXXX`, removed when the group stops. It records its owner's pid,
   * so dirs left by a bench that was SIGKILLed (nothing could remove them) are swept by the next run.
   */
  tempDir(prefix) {
    for (const name of readdirSync(tmpdir()).filter((n) => n.startsWith(prefix))) {
      const dir = join(tmpdir(), name);
      let owner = NaN;
      try {
        owner = Number(readFileSync(join(dir, "owner.pid"), "utf8"));
      } catch {}
      if (Number.isInteger(owner) && !alive(owner)) rmSync(dir, { recursive: true, force: true });
    }
    const dir = mkdtempSync(join(tmpdir(), prefix));
    writeFileSync(join(dir, "owner.pid"), String(process.pid));
    this.#dirs.push(dir);
    return dir;
  }

  /** Spawns `node ...args` with the watchdog preloaded; stdout/stderr as given (default: piped). */
  spawnNode(args, { stdout = "pipe", stderr = "pipe", env = process.env, name = args[0] } = {}) {
    return this.adopt(spawn(process.execPath, ["--import", WATCHDOG, ...args], { stdio: ["ignore", stdout, stderr], env }), name);
  }

  /**
   * Tracks a child spawned elsewhere (e.g. through a shell that raises its limits first) like those of
   * spawnNode: stderr tail kept, stopped with the group.
   */
  adopt(child, name) {
    child.benchName = name;
    child.stderrTail = "";
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (s) => (child.stderrTail = (child.stderrTail + s).slice(-4000)));
    this.#children.add(child);
    child.once("exit", () => this.#children.delete(child));
    return child;
  }

  /** SIGTERM to every child, SIGKILL to those still alive after `graceMs`; then removes the temp dirs. */
  async stop(graceMs = 6000) {
    await Promise.all([...this.#children].map((c) => stopChild(c, graceMs)));
    for (const dir of this.#dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    process.off("SIGINT", this.#onSignal);
    process.off("SIGTERM", this.#onSignal);
    process.off("exit", this.#onExit);
  }

  /** Last resort (exit handler, signal): SIGKILL everything now, remove the dirs. */
  killSync() {
    for (const c of this.#children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    for (const dir of this.#dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === "EPERM";
  }
}

function stopChild(child, graceMs) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/** Resolves with the first stdout line of `child` that parses as JSON and satisfies `accept`. */
export function firstJsonLine(child, accept = () => true, timeoutMs = 15000) {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    const done = (fn, value) => {
      clearTimeout(timer);
      child.off("exit", onExit);
      lines.close();
      fn(value);
    };
    const onExit = (code, signal) => done(reject, new Error(`${child.benchName} exited (${code ?? signal}) before it was ready\n${child.stderrTail}`));
    const timer = setTimeout(() => done(reject, new Error(`${child.benchName} not ready after ${timeoutMs} ms\n${child.stderrTail}`)), timeoutMs);
    child.once("exit", onExit);
    lines.on("line", (line) => {
      let value;
      try {
        value = JSON.parse(line);
      } catch {
        return;
      }
      if (accept(value)) done(resolve, value);
    });
  });
}

/** Polls a JSON-lines log file until a line satisfies `accept`. */
export async function waitForLogLine(file, child, accept, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${child.benchName} exited (${child.exitCode ?? child.signalCode}) before it was ready\n${child.stderrTail}`);
    }
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch {}
    for (const line of text.split("\n")) {
      try {
        const value = JSON.parse(line);
        if (accept(value)) return value;
      } catch {}
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${child.benchName} not ready after ${timeoutMs} ms\n${child.stderrTail}`);
}

/** CPU time (user+system, ms) a process has used so far, from /proc; null where unavailable. */
export function cpuMsOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // fields[0] is field 3 (state); utime is field 14, stime field 15; clock ticks of 10 ms on Linux.
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return null;
  }
}

/** `uplink-hub token create <args> --data-dir <dataDir> --json` → the token (shown once). */
export async function createHubToken(hubBin, dataDir, env, ...args) {
  const { stdout } = await promisify(execFile)(process.execPath, [hubBin, "token", "create", ...args, "--data-dir", dataDir, "--json"], { env, timeout: 30_000 });
  return JSON.parse(stdout).token;
}
