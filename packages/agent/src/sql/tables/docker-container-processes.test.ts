import { spawn, type ChildProcess } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { dockerContainerProcessesTable, processRows, PS_FIELDS } from "./docker-container-processes.js";
import { fakeHost, type FakeHost, killChild, waitForFile } from "../../../test/fake-host.js";
import { NO_CONSTRAINTS, type ScanConstraints } from "../table-def.js";

const ID = "11b2399e1426d906e62a0c357650e363426d6c56dbe2f35cbaa9b452250e3355";
/** What dockerd answers for `top?ps_args=axwwo <PS_FIELDS>`: ps's titles, then one array per process, the command line joined. */
const TOP = {
  Titles: ["PID", "S", "UID", "GID", "EUID", "EGID", "SUID", "SGID", "RSS", "VSZ", "ELAPSED", "PPID", "PGRP", "NLWP", "NI", "USER", "TIME", "%CPU", "%MEM", "COMMAND", "CMD"],
  Processes: [
    ["4242", "S", "0", "0", "0", "0", "0", "0", "5120", "11264", "120", "4200", "4242", "1", "0", "root", "00:00:01", "0.5", "0.1", "nginx", "nginx: master process nginx -g daemon off;"],
    ["4250", "S", "101", "101", "101", "101", "101", "101", "2048", "11700", "60", "4242", "4242", "2", "-", "101", "00:00:00", "0.0", "0.0", "nginx", "nginx: worker process"],
    ["4260", "S", "0", "0"],
  ],
};

const bound = (id: string | undefined): ScanConstraints => ({ ...NO_CONSTRAINTS, equals: { id } });

/** A fake Docker Engine in its own process (the table blocks its caller while it asks); it records the top query it got. */
function fakeEngine(socket: string): ChildProcess {
  const script = `
    const http = require("node:http");
    const [socket, id, top, fields] = process.argv.slice(1);
    http.createServer((req, res) => {
      const url = new URL(req.url, "http://docker");
      if (url.pathname === "/containers/json") return res.end(JSON.stringify([{ Id: id }]));
      const m = /^\\/containers\\/([^/]+)\\/top$/.exec(url.pathname);
      if (m && decodeURIComponent(m[1]) === id && url.searchParams.get("ps_args") === "axwwo " + fields) return res.end(top);
      if (m && decodeURIComponent(m[1]) === "stopped") { res.statusCode = 409; return res.end("{}"); }
      res.statusCode = 404;
      res.end("{}");
    }).listen(socket);
  `;
  return spawn(process.execPath, ["-e", script, socket, ID, JSON.stringify(TOP), PS_FIELDS], { stdio: "ignore" });
}

describe("docker_container_processes", () => {
  let host: FakeHost | undefined;
  let engine: ChildProcess | undefined;
  afterEach(async () => {
    await killChild(engine);
    engine = undefined;
    host?.remove();
    host = undefined;
  });

  it("maps ps's fields to osquery's columns, in bytes and seconds since boot, skipping misaligned lines", () => {
    const rows = processRows({ tops: [{ id: ID, top: TOP }, { id: "gone", top: null }] }, 1000);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toEqual({
      id: ID,
      pid: 4242,
      name: "nginx",
      cmdline: "nginx: master process nginx -g daemon off;",
      state: "S",
      uid: 0,
      gid: 0,
      euid: 0,
      egid: 0,
      suid: 0,
      sgid: 0,
      wired_size: 0,
      resident_size: 5120 * 1024,
      total_size: 11264 * 1024,
      start_time: 880,
      parent: 4200,
      pgroup: 4242,
      threads: 1,
      nice: 0,
      user: "root",
      time: "00:00:01",
      cpu: 0.5,
      mem: 0.1,
    });
    expect(rows[1]).toMatchObject({ pid: 4250, uid: 101, user: "101", threads: 2, nice: null, start_time: 940 });
  });

  it("answers no rows when the Docker socket is absent", () => {
    host = fakeHost();
    expect([...dockerContainerProcessesTable.rows(host.ctx(), bound(ID))]).toEqual([]);
  });

  it("asks the Engine for the bound container, or for every running one when none is bound", async () => {
    host = fakeHost();
    host.mkdir("/var/run");
    const socket = `${host.root}/var/run/docker.sock`;
    engine = fakeEngine(socket);
    await waitForFile(socket);
    const one = [...dockerContainerProcessesTable.rows(host.ctx(), bound(ID))];
    expect(one.map((r) => [r.id, r.pid])).toEqual([
      [ID, 4242],
      [ID, 4250],
    ]);
    const all = [...dockerContainerProcessesTable.rows(host.ctx(), bound(undefined))];
    expect(all.map((r) => r.pid)).toEqual([4242, 4250]);
    // An unknown container (404) and a stopped one (409) have no processes, as in osquery.
    expect([...dockerContainerProcessesTable.rows(host.ctx(), bound("nope"))]).toEqual([]);
    expect([...dockerContainerProcessesTable.rows(host.ctx(), bound("stopped"))]).toEqual([]);
  });
});
