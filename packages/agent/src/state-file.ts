import { randomUUID } from "node:crypto";
import { chmod, open, readFile, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { describeIssues, Labels } from "@uplink/protocol";
import { z } from "zod";
import { StateFileError } from "./errors.js";

/** The only mode a state file may have: it holds the agent's secret key. */
export const STATE_FILE_MODE = 0o600;

/** What `enroll` stores and `run` reads: the hub, the agent's identity and its complete key. */
export const AgentState = z.object({
  hub: z.string().url(),
  agentId: z.string().min(1),
  /** `<agentId>.<secret>`, sent as `Authorization: Bearer <agentKey>`. */
  agentKey: z.string().min(1),
  labels: Labels.default({}),
  /** Overrides the OS hostname in `hello` when set at enrollment. */
  hostname: z.string().min(1).max(255).optional(),
  /** Absolute path of the `--ca` file given at enrollment: `run` trusts it too unless `--ca` overrides it. */
  ca: z.string().min(1).optional(),
});
/** The contents of a state file. */
export type AgentState = z.infer<typeof AgentState>;

/** Reads and validates a state file. Throws {@link StateFileError} naming the path when it is missing or malformed. */
export async function readStateFile(path: string): Promise<AgentState> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const hint = (err as NodeJS.ErrnoException).code === "ENOENT" ? " (run `uplink-agent enroll` first)" : "";
    throw new StateFileError(`cannot read state file ${path}${hint}: ${(err as Error).message}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new StateFileError(`state file ${path} is not JSON`, { cause: err });
  }
  const parsed = AgentState.safeParse(json);
  if (!parsed.success) throw new StateFileError(`state file ${path} is malformed: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

/**
 * Writes the state file atomically (a temporary file in the same directory, then rename) with mode 0600,
 * and verifies the mode afterwards, so a reader sees either the old file or the whole new one and never a
 * world-readable key. Throws {@link StateFileError} on any failure, leaving no temporary file behind.
 */
export async function writeStateFile(path: string, state: AgentState): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomUUID()}.tmp`);
  try {
    const handle = await open(temp, "wx", STATE_FILE_MODE);
    try {
      await handle.writeFile(`${JSON.stringify(AgentState.parse(state), null, 2)}\n`, "utf8");
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
    // The umask can only remove bits, but a chmod makes the mode exact whatever the platform did.
    await chmod(path, STATE_FILE_MODE);
    const mode = (await stat(path)).mode & 0o777;
    if (mode !== STATE_FILE_MODE) throw new Error(`mode is ${mode.toString(8)}, expected 600`);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw new StateFileError(`cannot write state file ${path}: ${(err as Error).message}`, { cause: err });
  }
}
