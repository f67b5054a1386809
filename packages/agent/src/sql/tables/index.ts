import type { TableDef } from "../table-def.js";
import { agentTable } from "./agent.js";
import { fileTable, hashTable } from "./files.js";
import { listeningPortsTable } from "./listening-ports.js";
import { mountsTable } from "./mounts.js";
import { networkInterfacesTable } from "./network-interfaces.js";
import { processesTable } from "./processes.js";
import { cpuTable, loadAverage, memoryTable } from "./resources.js";
import { osReleaseTable, systemInfo, uptimeTable } from "./system.js";
import { usersTable } from "./users.js";

/**
 * Every table of the host collector, in the order `tables` and docs/tables.md list them. The engine
 * registers exactly these; adding a table here is the whole of adding it everywhere.
 */
export const HOST_TABLES: readonly TableDef[] = [
  systemInfo,
  osReleaseTable,
  cpuTable,
  loadAverage,
  memoryTable,
  mountsTable,
  networkInterfacesTable,
  processesTable,
  listeningPortsTable,
  usersTable,
  uptimeTable,
  fileTable,
  hashTable,
  agentTable,
];
