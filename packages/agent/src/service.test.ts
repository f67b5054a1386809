import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseConfig } from "./config.js";
import { ServiceInstallError } from "./errors.js";
import { installService, renderUnit, systemdQuote } from "./service.js";

describe("renderUnit", () => {
  it("runs `uplink-agent run --state <abs path>` and restarts except on exit 2 and 3", () => {
    const unit = renderUnit({ execPath: "/usr/bin/node", binPath: "/opt/uplink/bin/uplink-agent.js", statePath: "/var/lib/uplink/state.json", user: "uplink" });
    expect(unit).toContain('ExecStart="/usr/bin/node" "/opt/uplink/bin/uplink-agent.js" "run" "--state" "/var/lib/uplink/state.json"\n');
    expect(unit).toContain("Restart=always\n");
    expect(unit).toContain("RestartPreventExitStatus=2 3\n");
    expect(unit).toContain("User=uplink\n");
    expect(unit).toContain("WantedBy=multi-user.target\n");
  });

  it("runs the single executable without a script path", () => {
    const unit = renderUnit({ execPath: "/usr/local/bin/uplink-agent", statePath: "/var/lib/uplink-agent/state.json" });
    expect(unit).toContain('ExecStart="/usr/local/bin/uplink-agent" "run" "--state" "/var/lib/uplink-agent/state.json"\n');
  });

  it("leaves User out when none is given", () => {
    expect(renderUnit({ execPath: "/n", binPath: "/b", statePath: "/s" })).not.toContain("User=");
  });
});

describe("systemdQuote", () => {
  it("escapes quotes, backslashes, specifiers and variables", () => {
    expect(systemdQuote('/a b/"c"\\d%e$f')).toBe('"/a b/\\"c\\"\\\\d%%e$$f"');
  });

  it("refuses control characters", () => {
    expect(() => systemdQuote("/a\nExecStartPre=/bin/sh")).toThrow(/control characters/);
  });
});

describe("installService", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "uplink-unit-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("writes uplink-agent.service with the state path made absolute", async () => {
    const installed = await installService(parseConfig({ unitDir: dir, state: "relative/state.json" }));
    expect(installed).toEqual({ unitPath: join(dir, "uplink-agent.service"), statePath: resolve("relative/state.json"), stateExists: false });
    const unit = await readFile(installed.unitPath, "utf8");
    expect(unit).toContain(`"run" "--state" "${resolve("relative/state.json")}"`);
    expect(unit).toContain(`"${process.execPath}"`);
    expect((await stat(installed.unitPath)).mode & 0o777).toBe(0o644);
  });

  it("names the unit path it could not write", async () => {
    const unitDir = join(dir, "missing");
    await expect(installService(parseConfig({ unitDir }))).rejects.toThrow(ServiceInstallError);
    await expect(installService(parseConfig({ unitDir }))).rejects.toThrow(`cannot write ${join(unitDir, "uplink-agent.service")}`);
  });
});
