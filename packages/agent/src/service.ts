import { access, chmod, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { settingName, type AgentConfig } from "./config.js";
import { ConfigError, ServiceInstallError } from "./errors.js";
import { ExitCode } from "./exit-code.js";
import { inSingleExecutable } from "./single-executable.js";

/** The file name of the systemd unit `service install` writes. */
export const UNIT_NAME = "uplink-agent.service";

/** What the unit runs: this Node binary, this package's bin (none for the single executable), and the state file. */
export interface UnitSpec {
  execPath: string;
  binPath?: string | undefined;
  /** Absolute path of the state file. */
  statePath: string;
  user?: string | undefined;
}

/**
 * Quotes one ExecStart argument for systemd: double quotes with `\` and `"` escaped, `%` and `$` doubled so
 * systemd expands neither specifiers nor variables. Control characters cannot be expressed and are refused.
 */
export function systemdQuote(arg: string): string {
  if (/[\x00-\x1f\x7f]/.test(arg)) throw new ConfigError(settingName("state"), `path ${JSON.stringify(arg)} has control characters`);
  const escaped = arg.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/%/g, "%%").replace(/\$/g, "$$$$");
  return `"${escaped}"`;
}

/** Renders the unit: `uplink-agent run --state <abs path>`, restarted always except on exit 2 and 3. */
export function renderUnit(spec: UnitSpec): string {
  const exec = [spec.execPath, ...(spec.binPath === undefined ? [] : [spec.binPath]), "run", "--state", spec.statePath].map(systemdQuote).join(" ");
  return [
    "[Unit]",
    "Description=Uplink agent",
    "Wants=network-online.target",
    "After=network-online.target",
    "",
    "[Service]",
    "Type=simple",
    `ExecStart=${exec}`,
    ...(spec.user !== undefined ? [`User=${spec.user}`] : []),
    "Restart=always",
    "RestartSec=5",
    // Bad configuration and a rejected or revoked key need an operator; restarting would only hammer the hub.
    `RestartPreventExitStatus=${ExitCode.USAGE} ${ExitCode.CREDENTIAL_REJECTED}`,
    "",
    "[Install]",
    "WantedBy=multi-user.target",
    "",
  ].join("\n");
}

/** What `service install` did. */
export interface InstalledService {
  unitPath: string;
  statePath: string;
  /** False when the state file does not exist yet (the host still has to be enrolled). */
  stateExists: boolean;
}

/**
 * Writes `uplink-agent.service` into `config.unitDir` (mode 0644) for the state file `config.state`, made
 * absolute. Never calls systemctl. Throws `ServiceInstallError` naming the unit path when it cannot be written.
 */
export async function installService(config: AgentConfig): Promise<InstalledService> {
  const statePath = resolve(config.state);
  const unitPath = join(config.unitDir, UNIT_NAME);
  const unit = renderUnit({
    execPath: process.execPath,
    binPath: inSingleExecutable() ? undefined : fileURLToPath(new URL("../bin/uplink-agent.js", import.meta.url)),
    statePath,
    user: config.user,
  });
  try {
    await writeFile(unitPath, unit);
    // writeFile's mode applies only to a new file and is subject to the umask; systemd units are 0644.
    await chmod(unitPath, 0o644);
  } catch (err) {
    throw new ServiceInstallError(`cannot write ${unitPath}: ${(err as Error).message}`, { cause: err });
  }
  const stateExists = await access(statePath).then(
    () => true,
    () => false,
  );
  return { unitPath, statePath, stateExists };
}
