import { networkInterfaces } from "node:os";
import { defineTable } from "../table-def.js";
import { listDir } from "./file-patterns.js";
import { readTextIfPresent } from "./proc.js";

/** The IPv4 broadcast address of `address`/`netmask`; empty for IPv6. */
export function broadcastOf(address: string, netmask: string): string {
  const a = address.split(".").map(Number);
  const m = netmask.split(".").map(Number);
  if (a.length !== 4 || m.length !== 4) return "";
  return a.map((octet, i) => (octet | (~(m[i] as number) & 255)) & 255).join(".");
}

/** `interface_addresses`: every address of every interface, as the OS reports them. */
export const interfaceAddressesTable = defineTable({
  name: "interface_addresses",
  description: "Addresses of the network interfaces (one row per interface address).",
  columns: [
    { name: "interface", type: "TEXT", description: "Interface name (eth0, lo, ...)" },
    { name: "address", type: "TEXT", description: "IP address" },
    { name: "mask", type: "TEXT", description: "Network mask" },
    { name: "broadcast", type: "TEXT", description: "IPv4 broadcast address; empty for IPv6" },
    { name: "point_to_point", type: "TEXT", description: "Peer address of a point-to-point link; empty", note: "always empty" },
    { name: "type", type: "TEXT", description: "How the address was assigned: unknown", note: "always unknown (osquery tells dhcp/manual apart on some platforms)" },
    { name: "family", type: "TEXT", description: "IPv4 or IPv6", note: "uplink" },
    { name: "cidr", type: "TEXT", description: "Address with prefix length (10.0.0.5/24)", note: "uplink" },
  ],
  *rows() {
    for (const [name, addresses] of Object.entries(networkInterfaces())) {
      for (const a of addresses ?? []) {
        yield {
          interface: name,
          address: a.family === "IPv6" && a.scopeid ? `${a.address}%${name}` : a.address,
          mask: a.netmask,
          broadcast: a.family === "IPv4" ? broadcastOf(a.address, a.netmask) : "",
          point_to_point: "",
          type: "unknown",
          family: a.family,
          cidr: a.cidr,
        };
      }
    }
  },
});

/** A number of /sys/class/net/<if>/<file> (hex when prefixed 0x), or null when absent or unreadable (speed of a down link). */
function sysNumber(iface: string, file: string): number | null {
  const text = readTextIfPresent(`/sys/class/net/${iface}/${file}`)?.trim();
  if (text === undefined || text === "") return null;
  const n = text.startsWith("0x") ? parseInt(text, 16) : Number(text);
  return Number.isFinite(n) ? n : null;
}

function readSysText(iface: string, file: string): string {
  try {
    return readTextIfPresent(`/sys/class/net/${iface}/${file}`)?.trim() ?? "";
  } catch {
    return ""; // e.g. EINVAL reading a down link's attribute
  }
}

/** `interface_details`: each network interface with its link facts and counters, from /sys/class/net. */
export const interfaceDetailsTable = defineTable({
  name: "interface_details",
  description: "Network interfaces with MAC, MTU, flags and traffic counters, from /sys/class/net (one row per interface).",
  platforms: ["linux"],
  platformNote: "it reads /sys/class/net",
  columns: [
    { name: "interface", type: "TEXT", description: "Interface name" },
    { name: "mac", type: "TEXT", description: "MAC address" },
    { name: "type", type: "INTEGER", description: "ARPHRD type number (1 Ethernet, 772 loopback, ...)" },
    { name: "mtu", type: "INTEGER", description: "MTU in bytes" },
    { name: "metric", type: "INTEGER", description: "Routing metric: 0", note: "always 0" },
    { name: "flags", type: "INTEGER", description: "netdevice flags (IFF_UP = 1, ...)" },
    { name: "ipackets", type: "INTEGER", description: "Packets received" },
    { name: "opackets", type: "INTEGER", description: "Packets sent" },
    { name: "ibytes", type: "INTEGER", description: "Bytes received" },
    { name: "obytes", type: "INTEGER", description: "Bytes sent" },
    { name: "ierrors", type: "INTEGER", description: "Receive errors" },
    { name: "oerrors", type: "INTEGER", description: "Send errors" },
    { name: "idrops", type: "INTEGER", description: "Received packets dropped" },
    { name: "odrops", type: "INTEGER", description: "Sent packets dropped" },
    { name: "collisions", type: "INTEGER", description: "Collisions" },
    { name: "last_change", type: "INTEGER", description: "Time of the last change: -1 (unknown)", note: "always -1" },
    { name: "link_speed", type: "INTEGER", description: "Link speed in Mb/s; null when the link reports none" },
    { name: "pci_slot", type: "TEXT", description: "PCI slot of the device; empty for virtual interfaces" },
  ],
  *rows() {
    for (const iface of listDir("/sys/class/net").sort()) {
      let speed: number | null = null;
      try {
        speed = sysNumber(iface, "speed");
      } catch {
        speed = null;
      }
      const device = readSysText(iface, "device/uevent");
      yield {
        interface: iface,
        mac: readSysText(iface, "address"),
        type: sysNumber(iface, "type"),
        mtu: sysNumber(iface, "mtu"),
        metric: 0,
        flags: sysNumber(iface, "flags"),
        ipackets: sysNumber(iface, "statistics/rx_packets"),
        opackets: sysNumber(iface, "statistics/tx_packets"),
        ibytes: sysNumber(iface, "statistics/rx_bytes"),
        obytes: sysNumber(iface, "statistics/tx_bytes"),
        ierrors: sysNumber(iface, "statistics/rx_errors"),
        oerrors: sysNumber(iface, "statistics/tx_errors"),
        idrops: sysNumber(iface, "statistics/rx_dropped"),
        odrops: sysNumber(iface, "statistics/tx_dropped"),
        collisions: sysNumber(iface, "statistics/collisions"),
        last_change: -1,
        link_speed: speed !== null && speed >= 0 ? speed : null,
        pci_slot: /^PCI_SLOT_NAME=(.*)$/m.exec(device)?.[1] ?? "",
      };
    }
  },
});
