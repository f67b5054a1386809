import { spawn, type ChildProcess } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { NO_CONSTRAINTS } from "../table-def.js";
import { CollectorError } from "../../errors.js";
import { containerRows, dockerContainersTable } from "./docker-containers.js";
import { fakeHost, type FakeHost, killChild, waitForFile } from "../../../test/fake-host.js";

const LIST = [
  {
    Id: "11b2399e1426d906e62a0c357650e363426d6c56dbe2f35cbaa9b452250e3355",
    Names: ["/hello"],
    Image: "nginx:1.27",
    ImageID: "sha256:abc",
    Command: "/docker-entrypoint.sh nginx -g 'daemon off;'",
    Created: 1_700_000_000,
    State: "running",
    Status: "Up 2 hours",
    Unused: { ignored: true },
  },
];
const DETAILS = {
  [LIST[0]!.Id]: {
    Path: "/docker-entrypoint.sh",
    Config: { Entrypoint: ["/docker-entrypoint.sh"], Env: ["SECRET=hunter2"] },
    State: { Pid: 0, StartedAt: "2026-11-28T03:00:00.000000000Z", FinishedAt: "0001-01-01T00:00:00Z" },
    HostConfig: { Privileged: false, SecurityOpt: ["seccomp=unconfined", "no-new-privileges"], ReadonlyRootfs: true },
  },
};

/**
 * A fake Docker Engine in its own process: the table blocks its caller while it asks (spawnSync), so a
 * server in this process could never answer. `hang` accepts connections and never replies.
 */
function fakeEngine(socket: string, mode: "answer" | "hang"): ChildProcess {
  const script = `
    const http = require("node:http");
    const [socket, mode, list, details] = process.argv.slice(1);
    http.createServer((req, res) => {
      if (mode === "hang") return;
      const url = new URL(req.url, "http://docker");
      if (url.pathname === "/containers/json" && url.searchParams.get("all") === "1") return res.end(list);
      const m = /^\\/containers\\/([^/]+)\\/json$/.exec(url.pathname);
      const d = m && JSON.parse(details)[decodeURIComponent(m[1])];
      if (d) return res.end(JSON.stringify(d));
      res.statusCode = 404;
      res.end("{}");
    }).listen(socket);
  `;
  return spawn(process.execPath, ["-e", script, socket, mode, JSON.stringify(LIST), JSON.stringify(DETAILS)], { stdio: "ignore" });
}

describe("docker_containers", () => {
  let host: FakeHost | undefined;
  let engine: ChildProcess | undefined;
  afterEach(async () => {
    await killChild(engine);
    engine = undefined;
    host?.remove();
    host = undefined;
  });

  it("maps the Engine's answers to osquery's columns and never shows container environments", () => {
    const [row] = containerRows({ list: LIST, details: DETAILS });
    expect(row).toMatchObject({
      id: LIST[0]!.Id,
      name: "/hello",
      image: "nginx:1.27",
      command: "/docker-entrypoint.sh nginx -g 'daemon off;'",
      created: 1_700_000_000,
      state: "running",
      status: "Up 2 hours",
      pid: 0,
      path: "/docker-entrypoint.sh",
      config_entrypoint: "/docker-entrypoint.sh",
      started_at: "2026-11-28T03:00:00.000000000Z",
      privileged: 0,
      security_options: "seccomp=unconfined, no-new-privileges",
      env_variables: null,
      readonly_rootfs: 1,
      net_namespace: null,
    });
  });

  it("answers no rows when the Docker socket is absent", () => {
    host = fakeHost();
    expect([...dockerContainersTable.rows(host.ctx(), NO_CONSTRAINTS)]).toEqual([]);
  });

  it("asks the Engine through the socket", async () => {
    host = fakeHost();
    host.mkdir("/var/run");
    const socket = `${host.root}/var/run/docker.sock`;
    engine = fakeEngine(socket, "answer");
    await waitForFile(socket);
    const rows = [...dockerContainersTable.rows(host.ctx(), NO_CONSTRAINTS)];
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ name: "/hello", readonly_rootfs: 1, env_variables: null });
    expect(JSON.stringify(rows)).not.toContain("hunter2");
  });

  it("gives up on an Engine that never answers, with an error that says so", async () => {
    host = fakeHost();
    host.mkdir("/var/run");
    const socket = `${host.root}/var/run/docker.sock`;
    engine = fakeEngine(socket, "hang");
    await waitForFile(socket);
    let error: unknown;
    try {
      [...dockerContainersTable.rows(host.ctx(), NO_CONSTRAINTS)];
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(CollectorError);
    expect((error as CollectorError).message).toMatch(/did not answer within 5 s/);
  });
});
