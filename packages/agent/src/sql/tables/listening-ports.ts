import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { SocketAddress } from "node:net";
import { endianness } from "node:os";
import { defineTable, wants } from "../table-def.js";
import { isVanishedError, listPids, readTextIfPresent } from "./proc.js";

/** TCP_LISTEN and TCP_CLOSE in /proc/net/{tcp,udp}'s `st` column (include/net/tcp_states.h). */
const TCP_LISTEN = "0A";
const UDP_UNCONNECTED = "07";

const SOURCES = [
  { file: "/proc/net/tcp", protocol: "tcp", family: "IPv4" },
  { file: "/proc/net/tcp6", protocol: "tcp", family: "IPv6" },
  { file: "/proc/net/udp", protocol: "udp", family: "IPv4" },
  { file: "/proc/net/udp6", protocol: "udp", family: "IPv6" },
] as const;

/** One listening (TCP) or bound, unconnected (UDP) socket from /proc/net/*. */
export interface ListeningSocket {
  protocol: "tcp" | "udp";
  family: "IPv4" | "IPv6";
  address: string;
  port: number;
  uid: number;
  inode: number;
}

/**
 * Decodes an address of /proc/net/{tcp,udp}{,6}: hex of the kernel's in-memory bytes, printed one
 * 32-bit word at a time in host byte order, so on little-endian hosts each 4-byte group is reversed.
 */
export function decodeProcAddress(hex: string, family: "IPv4" | "IPv6", le = endianness() === "LE"): string {
  const bytes: number[] = [];
  for (let w = 0; w < hex.length; w += 8) {
    const word = [0, 2, 4, 6].map((o) => parseInt(hex.slice(w + o, w + o + 2), 16));
    bytes.push(...(le ? word.reverse() : word));
  }
  if (family === "IPv4") return bytes.join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  try {
    // SocketAddress prints the canonical RFC 5952 form (`::1`, `::ffff:127.0.0.1`).
    return new SocketAddress({ address: groups.join(":"), family: "ipv6" }).address;
  } catch {
    return groups.join(":");
  }
}

/**
 * Parses one /proc/net/{tcp,udp}{,6} file, keeping TCP sockets in LISTEN and UDP sockets that are bound
 * to a port but not connected to a peer (what "listening" means for UDP).
 */
export function parseProcNet(text: string, protocol: "tcp" | "udp", family: "IPv4" | "IPv6"): ListeningSocket[] {
  const sockets: ListeningSocket[] = [];
  for (const line of text.split("\n").slice(1)) {
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [localAddr, localPort] = (f[1] as string).split(":");
    const remotePort = (f[2] as string).split(":")[1];
    const state = f[3];
    const listening = protocol === "tcp" ? state === TCP_LISTEN : state === UDP_UNCONNECTED && remotePort === "0000";
    if (!listening || localAddr === undefined || localPort === undefined) continue;
    const port = parseInt(localPort, 16);
    if (port === 0) continue;
    sockets.push({ protocol, family, address: decodeProcAddress(localAddr, family), port, uid: Number(f[7]), inode: Number(f[9]) });
  }
  return sockets;
}

/**
 * Finds which process holds each socket inode by reading the `socket:[inode]` links in /proc/<pid>/fd.
 * Stops as soon as every inode is found; processes whose fds we may not read (other users', when not
 * root) or that exit mid-scan are skipped, so their sockets keep an unknown pid.
 */
function ownersOf(inodes: ReadonlySet<number>): Map<number, { pid: number; fd: number }> {
  const owners = new Map<number, { pid: number; fd: number }>();
  if (inodes.size === 0) return owners;
  for (const pid of listPids("listening_ports")) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch (err) {
      if (isVanishedError(err)) continue;
      throw err;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue; // the fd closed between listing and reading
      }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m === null) continue;
      const inode = Number(m[1]);
      if (inodes.has(inode) && !owners.has(inode)) owners.set(inode, { pid, fd: Number(fd) });
    }
    if (owners.size === inodes.size) break;
  }
  return owners;
}

function processName(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trimEnd();
  } catch {
    return null;
  }
}

/** IPPROTO_* and AF_* numbers, as osquery reports protocol and family. */
const PROTOCOL_NUMBER = { tcp: 6, udp: 17 } as const;
const FAMILY_NUMBER = { IPv4: 2, IPv6: 10 } as const;

/** The inode of this process's network namespace, which is the one /proc/net describes. */
function netNamespace(): string | null {
  try {
    return /\[(\d+)\]/.exec(readlinkSync("/proc/self/ns/net"))?.[1] ?? null;
  } catch {
    return null;
  }
}

/** `listening_ports`: listening TCP and bound UDP sockets, with the owning process where it can be found. */
export const listeningPortsTable = defineTable({
  name: "listening_ports",
  description: "Listening TCP and bound UDP sockets from /proc/net, with the owning process where known.",
  platforms: ["linux"],
  platformNote: "it reads /proc/net",
  note: "UNIX domain sockets are not listed (osquery lists them with family 1 and their path)",
  columns: [
    { name: "pid", type: "INTEGER", description: "Owning process; -1 when unknown (another user's process, unless the agent runs as root)" },
    { name: "port", type: "INTEGER", description: "Local port" },
    { name: "protocol", type: "INTEGER", description: "Transport protocol number: 6 TCP, 17 UDP" },
    { name: "family", type: "INTEGER", description: "Address family number: 2 IPv4, 10 IPv6" },
    { name: "address", type: "TEXT", description: "Local address (0.0.0.0 or :: for every address)" },
    { name: "fd", type: "INTEGER", description: "File descriptor of the socket in the owning process; -1 when unknown" },
    { name: "socket", type: "INTEGER", description: "Socket inode" },
    { name: "path", type: "TEXT", description: "Path of a UNIX domain socket; empty for TCP and UDP" },
    { name: "net_namespace", type: "TEXT", description: "Inode of the network namespace" },
    { name: "uid", type: "INTEGER", description: "User id that owns the socket", note: "uplink" },
    { name: "process", type: "TEXT", description: "Owning process's command name; null when unknown", note: "uplink" },
  ],
  *rows(_ctx, scan) {
    const sockets: ListeningSocket[] = [];
    for (const s of SOURCES) {
      // A kernel without IPv6 has no tcp6/udp6 file; that is not an error.
      const text = readTextIfPresent(s.file);
      if (text !== undefined) sockets.push(...parseProcNet(text, s.protocol, s.family));
    }
    // Finding owners walks every process's fds: only when the query may read pid, fd or process.
    const needOwners = wants(scan, "pid") || wants(scan, "fd") || wants(scan, "process");
    const owners = needOwners ? ownersOf(new Set(sockets.map((s) => s.inode).filter((i) => i > 0))) : new Map<number, { pid: number; fd: number }>();
    const names = new Map<number, string | null>();
    const ns = netNamespace();
    for (const s of sockets) {
      const owner = owners.get(s.inode);
      if (owner !== undefined && !names.has(owner.pid)) names.set(owner.pid, processName(owner.pid));
      yield {
        pid: needOwners ? (owner?.pid ?? -1) : null,
        port: s.port,
        protocol: PROTOCOL_NUMBER[s.protocol],
        family: FAMILY_NUMBER[s.family],
        address: s.address,
        fd: needOwners ? (owner?.fd ?? -1) : null,
        socket: s.inode,
        path: "",
        net_namespace: ns,
        uid: s.uid,
        process: owner === undefined ? null : (names.get(owner.pid) ?? null),
      };
    }
  },
});
