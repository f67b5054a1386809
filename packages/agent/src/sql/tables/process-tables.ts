import { readdirSync, readlinkSync } from "node:fs";
import { defineTable, type TableContext } from "../table-def.js";
import { decodeProcAddress } from "./listening-ports.js";
import { isVanishedError, listPids, readTextIfPresent } from "./proc.js";

/** A process's open descriptors: fd number → link target (`/path`, `socket:[inode]`, `pipe:[inode]`, ...). */
function descriptors(pid: number): [number, string][] {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch (err) {
    if (isVanishedError(err)) return [];
    throw err;
  }
  const out: [number, string][] = [];
  for (const fd of fds) {
    try {
      out.push([Number(fd), readlinkSync(`/proc/${pid}/fd/${fd}`)]);
    } catch {
      // The descriptor closed between listing and reading.
    }
  }
  return out.sort((a, b) => a[0] - b[0]);
}

/** `process_open_files`: descriptors of every process that name a file (not sockets, pipes or anonymous inodes). */
export const processOpenFilesTable = defineTable({
  name: "process_open_files",
  description: "Open file descriptors of each process, from /proc/<pid>/fd; sockets, pipes and anonymous inodes are left out (osquery: process_open_files).",
  platforms: ["linux"],
  platformNote: "it reads /proc",
  columns: [
    { name: "pid", type: "INTEGER", description: "Process id" },
    { name: "fd", type: "INTEGER", description: "File descriptor number" },
    { name: "path", type: "TEXT", description: "Path the descriptor refers to (with \" (deleted)\" when the file was removed)" },
  ],
  *rows() {
    for (const pid of listPids("process_open_files")) {
      for (const [fd, target] of descriptors(pid)) {
        if (target.startsWith("socket:") || target.startsWith("pipe:") || target.startsWith("anon_inode:")) continue;
        yield { pid, fd, path: target };
      }
    }
  },
});

/** TCP states of /proc/net/tcp's `st` column (include/net/tcp_states.h), named as osquery names them. */
const TCP_STATES: Record<number, string> = {
  1: "ESTABLISHED",
  2: "SYN_SENT",
  3: "SYN_RECV",
  4: "FIN_WAIT1",
  5: "FIN_WAIT2",
  6: "TIME_WAIT",
  7: "CLOSE",
  8: "CLOSE_WAIT",
  9: "LAST_ACK",
  10: "LISTEN",
  11: "CLOSING",
};

const AF_UNIX = 1;
const AF_INET = 2;
const AF_INET6 = 10;

/** One socket of a /proc/net table, keyed by inode. */
export interface SocketInfo {
  family: number;
  protocol: number;
  local_address: string;
  remote_address: string;
  local_port: number;
  remote_port: number;
  path: string | null;
  state: string;
}

/** Parses /proc/net/{tcp,udp,raw}{,6} into inode → socket, for IP sockets of `protocol` (6 TCP, 17 UDP, 255 raw). */
export function parseInetSockets(text: string, family: "IPv4" | "IPv6", protocol: number, le?: boolean): Map<number, SocketInfo> {
  const sockets = new Map<number, SocketInfo>();
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [la, lp] = (f[1] as string).split(":");
    const [ra, rp] = (f[2] as string).split(":");
    const inode = Number(f[9]);
    if (la === undefined || lp === undefined || ra === undefined || rp === undefined || !(inode > 0)) continue;
    sockets.set(inode, {
      family: family === "IPv4" ? AF_INET : AF_INET6,
      protocol,
      local_address: decodeProcAddress(la, family, le),
      remote_address: decodeProcAddress(ra, family, le),
      local_port: parseInt(lp, 16),
      remote_port: parseInt(rp, 16),
      path: null,
      // Only TCP has connection states; osquery leaves UDP's empty.
      state: protocol === 6 ? (TCP_STATES[parseInt(f[3] as string, 16)] ?? "UNKNOWN") : "",
    });
  }
  return sockets;
}

/** Parses /proc/net/unix (Num RefCount Protocol Flags Type St Inode [Path]) into inode → socket. */
export function parseUnixSockets(text: string): Map<number, SocketInfo> {
  const sockets = new Map<number, SocketInfo>();
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 7) continue;
    const inode = Number(f[6]);
    if (!(inode > 0)) continue;
    sockets.set(inode, {
      family: AF_UNIX,
      protocol: 0,
      local_address: "",
      remote_address: "",
      local_port: 0,
      remote_port: 0,
      // A path may contain spaces; abstract sockets start with "@".
      path: f.slice(7).join(" "),
      state: "",
    });
  }
  return sockets;
}

const NET_TABLES = [
  { file: "tcp", family: "IPv4", protocol: 6 },
  { file: "tcp6", family: "IPv6", protocol: 6 },
  { file: "udp", family: "IPv4", protocol: 17 },
  { file: "udp6", family: "IPv6", protocol: 17 },
  { file: "raw", family: "IPv4", protocol: 255 },
  { file: "raw6", family: "IPv6", protocol: 255 },
] as const;

/** Every socket of the network namespace `pid` lives in, read once per namespace and query. */
function namespaceSockets(ctx: TableContext, pid: number, netns: string): Map<number, SocketInfo> {
  return ctx.memo(`process-open-sockets.netns.${netns}`, () => {
    const all = new Map<number, SocketInfo>();
    for (const t of NET_TABLES) {
      const text = readTextIfPresent(`/proc/${pid}/net/${t.file}`);
      if (text !== undefined) for (const [inode, s] of parseInetSockets(text, t.family, t.protocol)) all.set(inode, s);
    }
    const unix = readTextIfPresent(`/proc/${pid}/net/unix`);
    if (unix !== undefined) for (const [inode, s] of parseUnixSockets(unix)) all.set(inode, s);
    return all;
  });
}

/** The inode of a process's network namespace (`net:[4026531992]` → "4026531992"), or null when hidden. */
function netNamespace(pid: number): string | null {
  try {
    return /\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/net`))?.[1] ?? null;
  } catch {
    return null;
  }
}

/** `process_open_sockets`: sockets each process holds, with their addresses and state. */
export const processOpenSocketsTable = defineTable({
  name: "process_open_sockets",
  description:
    "Sockets held by each process: the socket descriptors of /proc/<pid>/fd matched with the TCP, UDP, raw and UNIX sockets of the process's network namespace (osquery: process_open_sockets).",
  platforms: ["linux"],
  platformNote: "it reads /proc",
  columns: [
    { name: "pid", type: "INTEGER", description: "Process id" },
    { name: "fd", type: "INTEGER", description: "Socket file descriptor number" },
    { name: "socket", type: "INTEGER", description: "Socket inode" },
    { name: "family", type: "INTEGER", description: "Address family: 2 AF_INET, 10 AF_INET6, 1 AF_UNIX" },
    { name: "protocol", type: "INTEGER", description: "IP protocol: 6 TCP, 17 UDP, 255 raw; 0 for UNIX sockets" },
    { name: "local_address", type: "TEXT", description: "Local address (empty for UNIX sockets)" },
    { name: "remote_address", type: "TEXT", description: "Remote address (empty for UNIX sockets)" },
    { name: "local_port", type: "INTEGER", description: "Local port" },
    { name: "remote_port", type: "INTEGER", description: "Remote port" },
    { name: "path", type: "TEXT", description: "Path of a UNIX socket (empty when unnamed, @name for abstract ones); null for IP sockets" },
    { name: "state", type: "TEXT", description: "TCP state (ESTABLISHED, LISTEN, TIME_WAIT, ...); empty for other protocols" },
    { name: "net_namespace", type: "TEXT", description: "Inode of the process's network namespace" },
  ],
  *rows(ctx) {
    for (const pid of listPids("process_open_sockets")) {
      const fds = descriptors(pid).filter(([, target]) => target.startsWith("socket:["));
      if (fds.length === 0) continue;
      const netns = netNamespace(pid);
      const sockets = namespaceSockets(ctx, pid, netns ?? `pid${pid}`);
      for (const [fd, target] of fds) {
        const inode = Number(target.slice("socket:[".length, -1));
        const s = sockets.get(inode);
        // Netlink, packet and other families are not in these tables; osquery leaves them out too.
        if (s === undefined) continue;
        yield { pid, fd, socket: inode, ...s, net_namespace: netns };
      }
    }
  },
});

/** One mapping of /proc/<pid>/maps. */
export interface MemoryMapping {
  start: string;
  end: string;
  permissions: string;
  offset: number;
  device: string;
  inode: number;
  path: string;
  pseudo: number;
}

/** Parses /proc/<pid>/maps (`start-end perms offset dev inode [path]`); addresses are given 0x-prefixed like osquery. */
export function parseMaps(text: string): MemoryMapping[] {
  const maps: MemoryMapping[] = [];
  for (const line of text.split("\n")) {
    const m = /^([0-9a-f]+)-([0-9a-f]+)\s+(\S+)\s+([0-9a-f]+)\s+(\S+)\s+(\d+)\s*(.*)$/.exec(line);
    if (m === null) continue;
    const inode = Number(m[6]);
    const path = m[7] as string;
    maps.push({
      start: `0x${m[1]}`,
      end: `0x${m[2]}`,
      permissions: m[3] as string,
      offset: parseInt(m[4] as string, 16),
      device: m[5] as string,
      inode,
      path,
      // osquery: a named mapping without a backing inode ([heap], [stack], [vdso], ...) is a pseudo path.
      pseudo: inode === 0 && path !== "" ? 1 : 0,
    });
  }
  return maps;
}

/** `process_memory_map`: the memory mappings of each process. */
export const processMemoryMapTable = defineTable({
  name: "process_memory_map",
  description: "Memory mappings of each process from /proc/<pid>/maps (osquery: process_memory_map).",
  platforms: ["linux"],
  platformNote: "it reads /proc",
  columns: [
    { name: "pid", type: "INTEGER", description: "Process id" },
    { name: "start", type: "TEXT", description: "Start address (hex, 0x-prefixed)" },
    { name: "end", type: "TEXT", description: "End address (hex, 0x-prefixed)" },
    { name: "permissions", type: "TEXT", description: "r read, w write, x execute, p private (copy on write) or s shared" },
    { name: "offset", type: "INTEGER", description: "Offset into the mapped file" },
    { name: "device", type: "TEXT", description: "Device of the mapped file, major:minor" },
    { name: "inode", type: "INTEGER", description: "Inode of the mapped file; 0 for anonymous memory" },
    { name: "path", type: "TEXT", description: "Mapped file, or a pseudo path such as [heap] or [stack]; empty for anonymous memory" },
    { name: "pseudo", type: "INTEGER", description: "1 when path is a pseudo path, else 0" },
  ],
  *rows() {
    for (const pid of listPids("process_memory_map")) {
      const text = readTextIfPresent(`/proc/${pid}/maps`);
      if (text === undefined) continue;
      for (const m of parseMaps(text)) yield { pid, ...m };
    }
  },
});
