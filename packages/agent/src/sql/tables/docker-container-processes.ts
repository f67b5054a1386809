import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { uptime } from "node:os";
import type { z } from "zod";
import { CollectorError } from "../../errors.js";
import { defineTable } from "../table-def.js";
import { DOCKER_SOCKET, DOCKER_TIMEOUT_MS } from "./docker-containers.js";

/** Running containers asked at most when no id is bound. */
const MAX_CONTAINERS = 500;
/** Bytes of Engine answers accepted from the helper process. */
const MAX_OUTPUT_BYTES = 32 * 1024 * 1024;

/**
 * The `ps -o` fields the Engine's top endpoint runs on the host for a container, the list osquery asks
 * for on Linux except `etimes` (elapsed seconds) in place of `etime` ([DD-]HH:MM:SS), so that
 * start_time can be computed. ps prints COMMAND (comm) before CMD (the command line, which the Engine
 * joins back into one field).
 */
export const PS_FIELDS = "pid,state,uid,gid,euid,egid,suid,sgid,rss,vsz,etimes,ppid,pgrp,nlwp,nice,user,time,pcpu,pmem,comm,cmd";
const FIELD_COUNT = PS_FIELDS.split(",").length;

/**
 * Runs in a short-lived child Node process (tables run synchronously; Node has no synchronous HTTP
 * client), as docker_containers' helper does: asks `/containers/{id}/top` for each id given, or for
 * every running container when none is, and prints `{tops: [{id, top}]}`; `top` is null for a container
 * the Engine does not know or that is not running. spawnSync's timeout bounds it.
 */
const HELPER = `
const http = require("node:http");
const [socketPath, idsJson, max, timeoutMs, psArgs] = process.argv.slice(1);
setTimeout(() => process.exit(3), Number(timeoutMs) + 1000).unref();
const get = (path) => new Promise((resolve, reject) => {
  const req = http.get({ socketPath, path, headers: { host: "docker" } }, (res) => {
    const chunks = [];
    res.on("data", (c) => chunks.push(c));
    res.on("end", () => {
      if (res.statusCode === 200) return resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      const err = new Error("HTTP " + res.statusCode + " for " + path);
      err.status = res.statusCode;
      reject(err);
    });
  });
  req.on("error", reject);
});
(async () => {
  let ids = JSON.parse(idsJson);
  if (ids.length === 0) ids = (await get("/containers/json")).slice(0, Number(max)).map((c) => c.Id);
  const tops = [];
  for (const id of ids) {
    const path = "/containers/" + encodeURIComponent(id) + "/top?ps_args=" + encodeURIComponent("axwwo " + psArgs);
    // 404: no such container; 409: not running. Both mean no processes, as osquery answers.
    const top = await get(path).catch((err) => { if (err.status === 404 || err.status === 409) return null; throw err; });
    tops.push({ id, top });
  }
  process.stdout.write(JSON.stringify({ tops }));
})().catch((err) => { process.stderr.write(String(err && err.message || err)); process.exit(2); });
`;

const topAnswerSchema = (zod: typeof z) =>
  zod.object({
    tops: zod.array(
      zod.object({
        id: zod.string(),
        top: zod.object({ Titles: zod.array(zod.string()).nullish(), Processes: zod.array(zod.array(zod.string())).nullish() }).nullable(),
      }),
    ),
  });
export type TopAnswer = z.infer<ReturnType<typeof topAnswerSchema>>;

let schema: ReturnType<typeof topAnswerSchema> | undefined;

/** The schema, built on first use (zod's load time is paid only on hosts that ask Docker). */
function topAnswer(): ReturnType<typeof topAnswerSchema> {
  schema ??= topAnswerSchema((createRequire(import.meta.url)("zod") as { z: typeof z }).z);
  return schema;
}

const int = (v: string | undefined): number | null => (v !== undefined && /^-?\d+$/.test(v) ? Number(v) : null);
const real = (v: string | undefined): number | null => (v !== undefined && v !== "" && Number.isFinite(Number(v)) ? Number(v) : null);

/**
 * Turns the Engine's top answers into rows. A process line that does not have one value per ps field
 * (a command name with a space shifts them) is skipped, as osquery does. `uptimeSeconds` is the host's
 * uptime, from which start_time (seconds since boot) follows from the elapsed time.
 */
export function processRows(answer: TopAnswer, uptimeSeconds: number) {
  const rows = [];
  for (const { id, top } of answer.tops) {
    for (const p of top?.Processes ?? []) {
      if (p.length !== FIELD_COUNT) continue;
      const kib = (v: string | undefined) => {
        const n = int(v);
        return n === null ? null : n * 1024;
      };
      const elapsed = int(p[10]);
      rows.push({
        id,
        pid: int(p[0]),
        name: p[19] ?? null,
        cmdline: p[20] ?? null,
        state: p[1] ?? null,
        uid: int(p[2]),
        gid: int(p[3]),
        euid: int(p[4]),
        egid: int(p[5]),
        suid: int(p[6]),
        sgid: int(p[7]),
        wired_size: 0,
        resident_size: kib(p[8]),
        total_size: kib(p[9]),
        start_time: elapsed === null ? null : Math.max(0, Math.floor(uptimeSeconds - elapsed)),
        parent: int(p[11]),
        pgroup: int(p[12]),
        threads: int(p[13]),
        nice: int(p[14]),
        user: p[15] ?? null,
        time: p[16] ?? null,
        cpu: real(p[17]),
        mem: real(p[18]),
      });
    }
  }
  return rows;
}

/** `docker_container_processes`: processes of Docker containers, as the Engine's top endpoint lists them. */
export const dockerContainerProcessesTable = defineTable({
  name: "docker_container_processes",
  description: `Processes running in Docker containers, asked through ${DOCKER_SOCKET} (GET /containers/{id}/top): of the containers whose id (or name) the query binds with = or IN, else of every running container (none when the socket is absent; the Engine has ${DOCKER_TIMEOUT_MS / 1000} s to answer) (osquery: docker_container_processes).`,
  note: "osquery requires an id; without one this table reads every running container",
  platforms: ["linux"],
  platformNote: "it reads the Docker socket",
  indexed: ["id"],
  columns: [
    { name: "id", type: "TEXT", description: "Container id, as the query bound it (else the full id)" },
    { name: "pid", type: "INTEGER", description: "Host pid of the process" },
    { name: "name", type: "TEXT", description: "Command name (ps comm)" },
    { name: "cmdline", type: "TEXT", description: "Command line" },
    { name: "state", type: "TEXT", description: "Process state (R, S, D, Z, ...)" },
    { name: "uid", type: "INTEGER", description: "Real user id" },
    { name: "gid", type: "INTEGER", description: "Real group id" },
    { name: "euid", type: "INTEGER", description: "Effective user id" },
    { name: "egid", type: "INTEGER", description: "Effective group id" },
    { name: "suid", type: "INTEGER", description: "Saved user id" },
    { name: "sgid", type: "INTEGER", description: "Saved group id" },
    { name: "wired_size", type: "INTEGER", description: "Always 0 (no unpageable memory counter on Linux)" },
    { name: "resident_size", type: "INTEGER", description: "Resident memory, bytes", note: "bytes (ps KiB × 1024); osquery appends 000 to the KiB figure" },
    { name: "total_size", type: "INTEGER", description: "Virtual memory size, bytes", note: "bytes (ps KiB × 1024); osquery appends 000 to the KiB figure" },
    {
      name: "start_time",
      type: "INTEGER",
      description: "Process start, seconds since boot",
      note: "seconds since boot as osquery's spec says; osquery itself passes ps's elapsed [DD-]HH:MM:SS",
    },
    { name: "parent", type: "INTEGER", description: "Parent pid" },
    { name: "pgroup", type: "INTEGER", description: "Process group" },
    { name: "threads", type: "INTEGER", description: "Number of threads" },
    { name: "nice", type: "INTEGER", description: "Nice level (-20 to 19); null for a real-time process" },
    { name: "user", type: "TEXT", description: "User name (or uid when it has no name)" },
    { name: "time", type: "TEXT", description: "Cumulative CPU time, [DD-]HH:MM:SS" },
    { name: "cpu", type: "REAL", description: "CPU use, percent" },
    { name: "mem", type: "REAL", description: "Memory use, percent" },
  ],
  *rows(ctx, scan) {
    const socket = ctx.hostPath(DOCKER_SOCKET);
    if (!existsSync(socket)) return;
    const bound = scan.equals.id;
    const child = spawnSync(
      process.execPath,
      ["-e", HELPER, socket, JSON.stringify(bound === undefined ? [] : [bound]), String(MAX_CONTAINERS), String(DOCKER_TIMEOUT_MS), PS_FIELDS],
      { timeout: DOCKER_TIMEOUT_MS, killSignal: "SIGKILL", maxBuffer: MAX_OUTPUT_BYTES, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: {} },
    );
    if (child.error !== undefined || child.status !== 0) {
      const why =
        child.signal === "SIGKILL" ? `it did not answer within ${DOCKER_TIMEOUT_MS / 1000} s` : (child.stderr?.trim() || child.error?.message || `exit ${child.status}`);
      throw new CollectorError("query_failed", `table docker_container_processes: cannot ask the Docker Engine at ${DOCKER_SOCKET}: ${why.slice(0, 300)}`);
    }
    let answer: TopAnswer;
    try {
      answer = topAnswer().parse(JSON.parse(child.stdout));
    } catch (err) {
      throw new CollectorError(
        "query_failed",
        `table docker_container_processes: the Docker Engine's answer is not what its API documents: ${(err as Error).message.slice(0, 300)}`,
      );
    }
    yield* processRows(answer, uptime());
  },
});
