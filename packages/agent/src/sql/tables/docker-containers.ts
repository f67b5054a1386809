import { spawnSync } from "node:child_process";
import { existsSync, readlinkSync } from "node:fs";
import { createRequire } from "node:module";
import type { z } from "zod";
import { CollectorError } from "../../errors.js";
import { defineTable } from "../table-def.js";

/** The Docker Engine's API socket, read under the host root. */
export const DOCKER_SOCKET = "/var/run/docker.sock";

/** How long the Docker Engine may take to list and inspect every container before the table gives up. */
export const DOCKER_TIMEOUT_MS = 5_000;
/** Containers inspected at most; beyond it the list alone would already be a fleet-sized answer. */
const MAX_CONTAINERS = 2_000;
/** Bytes of Engine answers accepted from the helper process. */
const MAX_OUTPUT_BYTES = 32 * 1024 * 1024;

/**
 * Runs in a short-lived child Node process: tables run synchronously inside the query worker, and Node
 * has no synchronous HTTP client, so the child does the Engine API calls over the socket and prints
 * `{list, details}` as JSON. spawnSync's timeout kills it, which bounds the table in time whatever the
 * daemon does (a hung dockerd, a socket that accepts and never answers).
 */
const HELPER = `
const http = require("node:http");
const [socketPath, max, timeoutMs] = process.argv.slice(1);
// Dies by itself too: if the query worker is killed at its deadline, this orphan must not outlive it for long.
setTimeout(() => process.exit(3), Number(timeoutMs) + 1000).unref();
const get = (path) => new Promise((resolve, reject) => {
  const req = http.get({ socketPath, path, headers: { host: "docker" } }, (res) => {
    const chunks = [];
    res.on("data", (c) => chunks.push(c));
    res.on("end", () => res.statusCode === 200 ? resolve(JSON.parse(Buffer.concat(chunks).toString("utf8"))) : reject(new Error("HTTP " + res.statusCode + " for " + path)));
  });
  req.on("error", reject);
});
(async () => {
  const list = (await get("/containers/json?all=1")).slice(0, Number(max));
  const details = {};
  for (const c of list) details[c.Id] = await get("/containers/" + encodeURIComponent(c.Id) + "/json").catch(() => null);
  process.stdout.write(JSON.stringify({ list, details }));
})().catch((err) => { process.stderr.write(String(err && err.message || err)); process.exit(2); });
`;

/** The parts of the Engine's answers the table reads; anything else the daemon sends is ignored. */
const engineAnswerSchema = (zod: typeof z) =>
  zod.object({
    list: zod.array(
      zod.object({
        Id: zod.string(),
        Names: zod.array(zod.string()).nullish(),
        Image: zod.string().nullish(),
        ImageID: zod.string().nullish(),
        Command: zod.string().nullish(),
        Created: zod.number().nullish(),
        State: zod.string().nullish(),
        Status: zod.string().nullish(),
      }),
    ),
    details: zod.record(
      zod.string(),
      zod
        .object({
          Path: zod.string().nullish(),
          Config: zod.object({ Entrypoint: zod.array(zod.string()).nullish() }).nullish(),
          State: zod.object({ Pid: zod.number().nullish(), StartedAt: zod.string().nullish(), FinishedAt: zod.string().nullish() }).nullish(),
          HostConfig: zod
            .object({ Privileged: zod.boolean().nullish(), SecurityOpt: zod.array(zod.string()).nullish(), ReadonlyRootfs: zod.boolean().nullish() })
            .nullish(),
        })
        .nullable(),
    ),
  });
export type EngineAnswer = z.infer<ReturnType<typeof engineAnswerSchema>>;

let schema: ReturnType<typeof engineAnswerSchema> | undefined;

/**
 * The schema, built on first use: zod takes a tenth of a second to load, and every query worker would
 * pay it at start-up although only hosts running Docker ever need it.
 */
function engineAnswer(): ReturnType<typeof engineAnswerSchema> {
  schema ??= engineAnswerSchema((createRequire(import.meta.url)("zod") as { z: typeof z }).z);
  return schema;
}


/** The inode of `/proc/<pid>/ns/<kind>` (`net:[4026532008]` → "4026532008"), or null when unreadable. */
function namespaceOf(pid: number | null | undefined, kind: string): string | null {
  if (pid === null || pid === undefined || pid <= 0) return null;
  try {
    return /\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/${kind}`))?.[1] ?? null;
  } catch {
    return null;
  }
}

/** Turns the Engine's answers into table rows (the namespaces are read from /proc for running containers). */
export function containerRows(answer: EngineAnswer) {
  return answer.list.map((c) => {
    const d = answer.details[c.Id] ?? null;
    const pid = d?.State?.Pid ?? null;
    return {
      id: c.Id,
      name: c.Names?.[0] ?? "",
      image: c.Image ?? "",
      image_id: c.ImageID ?? "",
      command: c.Command ?? "",
      created: c.Created ?? null,
      state: c.State ?? "",
      status: c.Status ?? "",
      pid,
      path: d?.Path ?? "",
      config_entrypoint: (d?.Config?.Entrypoint ?? []).join(", "),
      started_at: d?.State?.StartedAt ?? "",
      finished_at: d?.State?.FinishedAt ?? "",
      privileged: d?.HostConfig?.Privileged === undefined || d.HostConfig.Privileged === null ? null : d.HostConfig.Privileged ? 1 : 0,
      security_options: (d?.HostConfig?.SecurityOpt ?? []).join(", "),
      env_variables: null,
      readonly_rootfs: d?.HostConfig?.ReadonlyRootfs === undefined || d.HostConfig.ReadonlyRootfs === null ? null : d.HostConfig.ReadonlyRootfs ? 1 : 0,
      cgroup_namespace: namespaceOf(pid, "cgroup"),
      ipc_namespace: namespaceOf(pid, "ipc"),
      mnt_namespace: namespaceOf(pid, "mnt"),
      net_namespace: namespaceOf(pid, "net"),
      pid_namespace: namespaceOf(pid, "pid"),
      user_namespace: namespaceOf(pid, "user"),
      uts_namespace: namespaceOf(pid, "uts"),
    };
  });
}

/** `docker_containers`: containers of the local Docker Engine. */
export const dockerContainersTable = defineTable({
  name: "docker_containers",
  description: `Containers of the local Docker Engine, asked through ${DOCKER_SOCKET} (none when the socket is absent; the Engine has ${DOCKER_TIMEOUT_MS / 1000} s to answer) (osquery: docker_containers).`,
  platforms: ["linux"],
  platformNote: "it reads the Docker socket",
  columns: [
    { name: "id", type: "TEXT", description: "Container id" },
    { name: "name", type: "TEXT", description: "Container name, with its leading /" },
    { name: "image", type: "TEXT", description: "Image the container was created from" },
    { name: "image_id", type: "TEXT", description: "Image id" },
    { name: "command", type: "TEXT", description: "Command with arguments" },
    { name: "created", type: "INTEGER", description: "Creation time, Unix seconds" },
    { name: "state", type: "TEXT", description: "created, restarting, running, removing, paused, exited or dead" },
    { name: "status", type: "TEXT", description: "Human-readable status (Up 3 hours, Exited (0) 2 days ago, ...)" },
    { name: "pid", type: "INTEGER", description: "Host pid of the container's first process; 0 when not running" },
    { name: "path", type: "TEXT", description: "Executable the container runs" },
    { name: "config_entrypoint", type: "TEXT", description: "Entrypoint, comma-separated" },
    { name: "started_at", type: "TEXT", description: "Last start time (RFC 3339)" },
    { name: "finished_at", type: "TEXT", description: "Last finish time (RFC 3339)" },
    { name: "privileged", type: "INTEGER", description: "1 when privileged, else 0" },
    { name: "security_options", type: "TEXT", description: "Security options, comma-separated" },
    {
      name: "env_variables",
      type: "TEXT",
      description: "Always null: container environments carry secrets (osquery lists them); read them with docker inspect where allowed",
    },
    { name: "readonly_rootfs", type: "INTEGER", description: "1 when the root file system is read-only, else 0" },
    { name: "cgroup_namespace", type: "TEXT", description: "cgroup namespace inode of a running container" },
    { name: "ipc_namespace", type: "TEXT", description: "IPC namespace inode" },
    { name: "mnt_namespace", type: "TEXT", description: "Mount namespace inode" },
    { name: "net_namespace", type: "TEXT", description: "Network namespace inode" },
    { name: "pid_namespace", type: "TEXT", description: "PID namespace inode" },
    { name: "user_namespace", type: "TEXT", description: "User namespace inode" },
    { name: "uts_namespace", type: "TEXT", description: "UTS namespace inode" },
  ],
  *rows(ctx) {
    const socket = ctx.hostPath(DOCKER_SOCKET);
    if (!existsSync(socket)) return;
    const child = spawnSync(process.execPath, ["-e", HELPER, socket, String(MAX_CONTAINERS), String(DOCKER_TIMEOUT_MS)], {
      timeout: DOCKER_TIMEOUT_MS,
      killSignal: "SIGKILL",
      maxBuffer: MAX_OUTPUT_BYTES,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      env: {},
    });
    if (child.error !== undefined || child.status !== 0) {
      const why =
        child.signal === "SIGKILL" ? `it did not answer within ${DOCKER_TIMEOUT_MS / 1000} s` : (child.stderr?.trim() || child.error?.message || `exit ${child.status}`);
      throw new CollectorError("query_failed", `table docker_containers: cannot ask the Docker Engine at ${DOCKER_SOCKET}: ${why.slice(0, 300)}`);
    }
    let answer: EngineAnswer;
    try {
      answer = engineAnswer().parse(JSON.parse(child.stdout));
    } catch (err) {
      throw new CollectorError("query_failed", `table docker_containers: the Docker Engine's answer is not what its API documents: ${(err as Error).message.slice(0, 300)}`);
    }
    yield* containerRows(answer);
  },
});
