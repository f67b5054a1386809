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
// osquery's Linux tables, from here to the end of HOST_TABLES.
import { groupsTable, userGroupsTable } from "./accounts.js";
import { chromeExtensionsTable, operaExtensionsTable } from "./browser-extensions.js";
import { firefoxAddonsTable } from "./firefox-addons.js";
import { cpuidTable } from "./cpuid.js";
import { crontabTable } from "./crontab.js";
import { aptSourcesTable, debPackagesTable } from "./deb-packages.js";
import { blockDevicesTable, diskEncryptionTable } from "./block-devices.js";
import { pciDevicesTable, usbDevicesTable } from "./bus-devices.js";
import { dockerContainerProcessesTable } from "./docker-container-processes.js";
import { dockerContainersTable } from "./docker-containers.js";
import { hardwareEventsTable } from "./hardware-events.js";
import { iptablesTable } from "./iptables.js";
import { kernelModulesTable, systemControlsTable } from "./kernel.js";
import { npmPackagesTable, pythonPackagesTable } from "./language-packages.js";
import { lastTable, loggedInUsersTable } from "./logins.js";
import { arpCacheTable, etcHostsTable, etcServicesTable, routesTable } from "./network-tables.js";
import { processMemoryMapTable, processOpenFilesTable, processOpenSocketsTable } from "./process-tables.js";
import { rpmPackagesTable } from "./rpm-packages.js";
import { suidBinTable } from "./suid-bin.js";
import { timeTable } from "./time.js";

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
  // osquery's Linux tables: accounts and logins, packages, scheduled jobs, processes, network, kernel, devices, apps.
  groupsTable,
  userGroupsTable,
  loggedInUsersTable,
  lastTable,
  debPackagesTable,
  rpmPackagesTable,
  aptSourcesTable,
  pythonPackagesTable,
  npmPackagesTable,
  crontabTable,
  processOpenSocketsTable,
  processOpenFilesTable,
  processMemoryMapTable,
  routesTable,
  arpCacheTable,
  etcHostsTable,
  etcServicesTable,
  kernelModulesTable,
  systemControlsTable,
  suidBinTable,
  blockDevicesTable,
  pciDevicesTable,
  usbDevicesTable,
  diskEncryptionTable,
  dockerContainersTable,
  timeTable,
  chromeExtensionsTable,
  firefoxAddonsTable,
  operaExtensionsTable,
  dockerContainerProcessesTable,
  iptablesTable,
  cpuidTable,
  hardwareEventsTable,
];
