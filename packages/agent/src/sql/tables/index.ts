import type { TableDef } from "../table-def.js";
import { agentTable, osqueryInfoTable } from "./agent.js";
import { acpiTablesTable, smbiosTablesTable } from "./firmware.js";
import { fileLinesTable, fileTable, hashTable, parseJsonTable } from "./files.js";
import { listeningPortsTable } from "./listening-ports.js";
import { mountsTable } from "./mounts.js";
import { interfaceAddressesTable, interfaceDetailsTable } from "./network-interfaces.js";
import { osqueryEvents, osqueryRegistryTable, osquerySchedule } from "./osquery-utility.js";
import { portagePackagesTable, vscodeExtensionsTable, yumSourcesTable } from "./packages.js";
import { processesTable } from "./processes.js";
import { cpuTimeTable, loadAverage, memoryInfoTable } from "./resources.js";
import { authorizedKeysTable, processEnvsTable, shellHistoryTable, userSshKeysTable } from "./secrets.js";
import { kernelInfoTable, osReleaseTable, osVersionTable, systemInfo, uptimeTable } from "./system.js";
import { usersTable } from "./users.js";

/**
 * Every table of the host collector, in the order `tables` and docs/tables.md list them. The engine
 * registers exactly these; adding a table here is the whole of adding it everywhere.
 */
export const HOST_TABLES: readonly TableDef[] = [
  systemInfo,
  osVersionTable,
  osReleaseTable,
  kernelInfoTable,
  cpuTimeTable,
  loadAverage,
  memoryInfoTable,
  mountsTable,
  interfaceAddressesTable,
  interfaceDetailsTable,
  processesTable,
  listeningPortsTable,
  usersTable,
  uptimeTable,
  fileTable,
  hashTable,
  processEnvsTable,
  shellHistoryTable,
  authorizedKeysTable,
  userSshKeysTable,
  fileLinesTable,
  parseJsonTable,
  yumSourcesTable,
  portagePackagesTable,
  vscodeExtensionsTable,
  acpiTablesTable,
  smbiosTablesTable,
  osqueryInfoTable,
  osqueryRegistryTable(() => HOST_TABLES),
  osquerySchedule,
  osqueryEvents,
  agentTable,
];
