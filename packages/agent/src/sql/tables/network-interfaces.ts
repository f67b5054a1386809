import { networkInterfaces } from "node:os";
import { defineTable } from "../table-def.js";

/** `network_interfaces`: every address of every interface, as the OS reports them. */
export const networkInterfacesTable = defineTable({
  name: "network_interfaces",
  description: "Network interfaces and their addresses (one row per interface address).",
  columns: [
    { name: "name", type: "TEXT", description: "Interface name (eth0, lo, ...)" },
    { name: "family", type: "TEXT", description: "IPv4 or IPv6" },
    { name: "address", type: "TEXT", description: "IP address" },
    { name: "netmask", type: "TEXT", description: "Network mask" },
    { name: "cidr", type: "TEXT", description: "Address with prefix length (10.0.0.5/24)" },
    { name: "mac", type: "TEXT", description: "MAC address" },
    { name: "internal", type: "INTEGER", description: "1 for loopback and other host-internal interfaces, else 0" },
    { name: "scope_id", type: "INTEGER", description: "IPv6 scope id; null for IPv4" },
  ],
  *rows() {
    for (const [name, addresses] of Object.entries(networkInterfaces())) {
      for (const a of addresses ?? []) {
        yield {
          name,
          family: a.family,
          address: a.address,
          netmask: a.netmask,
          cidr: a.cidr,
          mac: a.mac,
          internal: a.internal ? 1 : 0,
          scope_id: a.family === "IPv6" ? a.scopeid : null,
        };
      }
    }
  },
});
