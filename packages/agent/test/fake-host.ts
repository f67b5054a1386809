import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { TableContext } from "../src/sql/table-def.js";

/**
 * A host file tree under a temporary root for unit tests of tables: `write` places a file at a host path,
 * `ctx()` is a table context whose `hostPath` maps host paths under the root (as the engine's setting
 * does), `remove()` deletes the tree. /proc and /sys are never mapped, as in the agent.
 */
export function fakeHost() {
  const root = mkdtempSync(join(tmpdir(), "uplink-fake-host-"));
  return {
    root,
    write(path: string, content: string | Buffer): string {
      const file = join(root, path);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, content);
      return file;
    },
    mkdir(path: string): void {
      mkdirSync(join(root, path), { recursive: true });
    },
    ctx(): TableContext {
      const memo = new Map<string, unknown>();
      const ctx = {
        platform: "linux" as const,
        agent: {} as TableContext["agent"],
        memo<T>(key: string, compute: () => T): T {
          if (!memo.has(key)) memo.set(key, compute());
          return memo.get(key) as T;
        },
        hostPath: (p: string) => join(root, p),
      };
      return ctx;
    },
    remove(): void {
      rmSync(root, { recursive: true, force: true });
    },
  };
}

export type FakeHost = ReturnType<typeof fakeHost>;

/** Resolves once `path` exists (a fake Docker Engine's socket, say); throws after ~5 s. */
export async function waitForFile(path: string): Promise<void> {
  for (let i = 0; i < 200 && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 25));
  if (!existsSync(path)) throw new Error(`${path} never appeared`);
}

/** SIGKILLs a helper process a test started, if it still runs, and waits for its exit. */
export async function killChild(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGKILL");
  await exited;
}
