import { SocketAddress } from "node:net";
import { defineTable } from "../table-def.js";
import { readHostText } from "./host-files.js";
import { decodeProcAddress } from "./listening-ports.js";
import { readTextIfPresent } from "./proc.js";

/** RTF_LOCAL of /proc/net/ipv6_route's flags (include/uapi/linux/ipv6_route.h): a route to one of the host's addresses. */
const RTF_LOCAL = 0x80000000;

/** One route of the kernel's main table. */
export interface Route {
  destination: string;
  netmask: number;
  gateway: string;
  flags: number;
  interface: string;
  mtu: number;
  metric: number;
  type: string;
}

/** Number of one bits of a dotted IPv4 netmask: its prefix length. */
function prefixLength(dotted: string): number {
  let bits = 0;
  for (const octet of dotted.split(".")) bits += Number(octet).toString(2).replace(/0/g, "").length;
  return bits;
}

/** Parses /proc/net/route (IPv4 main table: Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT). */
export function parseIpv4Routes(text: string, le?: boolean): Route[] {
  const routes: Route[] = [];
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 11) continue;
    const flags = parseInt(f[3] as string, 16);
    routes.push({
      destination: decodeProcAddress(f[1] as string, "IPv4", le),
      netmask: prefixLength(decodeProcAddress(f[7] as string, "IPv4", le)),
      gateway: decodeProcAddress(f[2] as string, "IPv4", le),
      flags,
      interface: f[0] as string,
      mtu: Number(f[8]),
      metric: Number(f[6]),
      // /proc/net/route lists the main table's unicast routes only: osquery calls those "gateway".
      type: "gateway",
    });
  }
  return routes;
}

/** A 32-hex-digit IPv6 address of /proc/net/ipv6_route (network byte order, unlike /proc/net/tcp6) as text. */
function ipv6FromHex(hex: string): string {
  const groups: string[] = [];
  for (let i = 0; i < 32; i += 4) groups.push(hex.slice(i, i + 4));
  try {
    return new SocketAddress({ address: groups.join(":"), family: "ipv6" }).address;
  } catch {
    return groups.join(":");
  }
}

/** Parses /proc/net/ipv6_route (dest plen src plen gateway metric refcnt use flags iface, all hex). */
export function parseIpv6Routes(text: string): Route[] {
  const routes: Route[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || (f[0] as string).length !== 32) continue;
    const flags = parseInt(f[8] as string, 16) >>> 0;
    routes.push({
      destination: ipv6FromHex(f[0] as string),
      netmask: parseInt(f[1] as string, 16),
      gateway: ipv6FromHex(f[4] as string),
      flags,
      interface: f[9] as string,
      mtu: 0,
      metric: parseInt(f[5] as string, 16) >>> 0,
      type: (flags & RTF_LOCAL) !== 0 ? "local" : "gateway",
    });
  }
  return routes;
}

/** `routes`: the IPv4 and IPv6 routing tables. */
export const routesTable = defineTable({
  name: "routes",
  description:
    "Routes of the kernel's routing tables, from /proc/net/route (IPv4 main table) and /proc/net/ipv6_route; osquery reads netlink, which also lists the IPv4 local table (osquery: routes).",
  platforms: ["linux"],
  platformNote: "it reads /proc/net",
  columns: [
    { name: "destination", type: "TEXT", description: "Destination network address" },
    { name: "netmask", type: "INTEGER", description: "Prefix length of the destination (0 for a default route)" },
    { name: "gateway", type: "TEXT", description: "Gateway address (0.0.0.0 or :: when directly connected)" },
    { name: "source", type: "TEXT", description: "Preferred source address; null (/proc does not expose it)" },
    { name: "flags", type: "INTEGER", description: "route(8) flags (RTF_UP 0x1, RTF_GATEWAY 0x2, RTF_HOST 0x4, ...); osquery reports netlink's rtm_flags instead" },
    { name: "interface", type: "TEXT", description: "Outgoing interface" },
    { name: "mtu", type: "INTEGER", description: "Route MTU, 0 when the interface's applies" },
    { name: "metric", type: "INTEGER", description: "Route metric; lowest is preferred" },
    { name: "type", type: "TEXT", description: "gateway for unicast routes, local for the host's own addresses (IPv6)" },
    { name: "hopcount", type: "INTEGER", description: "Hop limit; 0 (/proc does not expose it, osquery's default)" },
  ],
  *rows() {
    const v4 = readTextIfPresent("/proc/net/route");
    const v6 = readTextIfPresent("/proc/net/ipv6_route");
    for (const r of [...(v4 === undefined ? [] : parseIpv4Routes(v4)), ...(v6 === undefined ? [] : parseIpv6Routes(v6))]) {
      yield { ...r, source: null, hopcount: 0 };
    }
  },
});

/** One entry of /proc/net/arp. */
export interface ArpEntry {
  address: string;
  mac: string;
  interface: string;
  permanent: string;
}

/** Parses /proc/net/arp (IP address, HW type, Flags, HW address, Mask, Device); ATF_PERM|ATF_COM (0x6) is permanent. */
export function parseArp(text: string): ArpEntry[] {
  const entries: ArpEntry[] = [];
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length !== 6) continue;
    entries.push({ address: f[0] as string, mac: f[3] as string, interface: f[5] as string, permanent: f[2] === "0x6" ? "1" : "0" });
  }
  return entries;
}

/** `arp_cache`: the kernel's IPv4 neighbour cache. */
export const arpCacheTable = defineTable({
  name: "arp_cache",
  description: "IPv4 neighbour (ARP) cache from /proc/net/arp (osquery: arp_cache).",
  platforms: ["linux"],
  platformNote: "it reads /proc/net/arp",
  columns: [
    { name: "address", type: "TEXT", description: "IPv4 address" },
    { name: "mac", type: "TEXT", description: "MAC address (00:00:00:00:00:00 while incomplete)" },
    { name: "interface", type: "TEXT", description: "Interface" },
    { name: "permanent", type: "TEXT", description: "1 for a static (permanent) entry, else 0" },
  ],
  *rows() {
    yield* parseArp(readTextIfPresent("/proc/net/arp") ?? "");
  },
});

/** Parses /etc/hosts: one row per address line, hostnames space-joined up to a `#` comment. */
export function parseEtcHosts(text: string): { address: string; hostnames: string }[] {
  const rows: { address: string; hostnames: string }[] = [];
  for (const line of text.split("\n")) {
    const tokens = line.trim().split(/\s+/).filter((t) => t !== "");
    if (tokens.length === 0 || tokens[0]!.startsWith("#")) continue;
    const names: string[] = [];
    for (const t of tokens.slice(1)) {
      if (t.startsWith("#")) break;
      names.push(t);
    }
    rows.push({ address: tokens[0]!, hostnames: names.join(" ") });
  }
  return rows;
}

/** `etc_hosts`: the static host table. */
export const etcHostsTable = defineTable({
  name: "etc_hosts",
  description: "Line-parsed /etc/hosts (osquery: etc_hosts).",
  platforms: ["linux"],
  platformNote: "it reads /etc/hosts",
  columns: [
    { name: "address", type: "TEXT", description: "IP address" },
    { name: "hostnames", type: "TEXT", description: "Host names and aliases of the address, space-separated" },
  ],
  *rows(ctx) {
    yield* parseEtcHosts(readHostText(ctx, "/etc/hosts") ?? "");
  },
});

/** One line of /etc/services. */
export interface ServiceEntry {
  name: string;
  port: number;
  protocol: string;
  aliases: string;
  comment: string | null;
}

/** Parses /etc/services: `name port/protocol [aliases...] [# comment]`. */
export function parseEtcServices(text: string): ServiceEntry[] {
  const entries: ServiceEntry[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "" || line.startsWith("#")) continue;
    const hash = line.indexOf("#");
    const body = hash < 0 ? line : line.slice(0, hash);
    const comment = hash < 0 ? null : line.slice(hash + 1).trim();
    const f = body.trim().split(/\s+/);
    if (f.length < 2) continue;
    const portProto = (f[1] as string).split("/");
    if (portProto.length !== 2 || !/^\d+$/.test(portProto[0] as string)) continue;
    entries.push({ name: f[0] as string, port: Number(portProto[0]), protocol: portProto[1] as string, aliases: f.slice(2).join(" "), comment });
  }
  return entries;
}

/** `etc_services`: well-known service names and ports. */
export const etcServicesTable = defineTable({
  name: "etc_services",
  description: "Line-parsed /etc/services (osquery: etc_services).",
  platforms: ["linux"],
  platformNote: "it reads /etc/services",
  columns: [
    { name: "name", type: "TEXT", description: "Service name" },
    { name: "port", type: "INTEGER", description: "Port number" },
    { name: "protocol", type: "TEXT", description: "Transport protocol (tcp, udp, ...)" },
    { name: "aliases", type: "TEXT", description: "Other names of the service, space-separated" },
    { name: "comment", type: "TEXT", description: "Comment after #; null when none" },
  ],
  *rows(ctx) {
    yield* parseEtcServices(readHostText(ctx, "/etc/services") ?? "");
  },
});
