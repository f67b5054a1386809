import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { CollectorError } from "../../errors.js";
import { defineTable } from "../table-def.js";

/** Where distributions install iptables-save; the first that exists is run (never looked up through PATH). */
const IPTABLES_SAVE = ["/usr/sbin/iptables-save", "/sbin/iptables-save", "/usr/bin/iptables-save", "/bin/iptables-save"];
/** How long iptables-save may take before the table gives up. */
export const IPTABLES_TIMEOUT_MS = 5_000;
/** Bytes of iptables-save output accepted (a rule set of this size is already extraordinary). */
const MAX_OUTPUT_BYTES = 32 * 1024 * 1024;

/** One row of `iptables`: a rule, or the closing row osquery emits for each chain. */
export interface IptablesRow {
  filter_name: string;
  chain: string;
  policy: string;
  target: string | null;
  protocol: number | null;
  src_port: string | null;
  dst_port: string | null;
  src_ip: string | null;
  src_mask: string | null;
  iniface: string | null;
  iniface_mask: string | null;
  dst_ip: string | null;
  dst_mask: string | null;
  outiface: string | null;
  outiface_mask: string | null;
  match: string | null;
  packets: number;
  bytes: number;
}

/** IP protocol numbers of the names iptables-save prints (as /etc/protocols has them). */
const PROTOCOLS: Readonly<Record<string, number>> = {
  all: 0, icmp: 1, igmp: 2, tcp: 6, udp: 17, gre: 47, esp: 50, ah: 51, "ipv6-icmp": 58, icmpv6: 58, sctp: 132, udplite: 136,
};

/** Splits a rule line into words, honouring the double quotes iptables-save puts around strings with spaces. */
function words(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (line[i] === " " || line[i] === "\t") i += 1;
    if (i >= line.length) break;
    let word = "";
    while (i < line.length && line[i] !== " " && line[i] !== "\t") {
      if (line[i] === '"') {
        i += 1;
        while (i < line.length && line[i] !== '"') {
          if (line[i] === "\\" && i + 1 < line.length) i += 1;
          word += line[i];
          i += 1;
        }
        i += 1;
      } else {
        word += line[i];
        i += 1;
      }
    }
    out.push(word);
  }
  return out;
}

/** A prefix length or dotted mask as the dotted mask osquery shows; null when malformed. */
function dottedMask(mask: string | undefined): string | null {
  if (mask === undefined) return "255.255.255.255";
  if (/^\d+\.\d+\.\d+\.\d+$/.test(mask)) return mask;
  const bits = Number(mask);
  if (!Number.isInteger(bits) || bits < 0 || bits > 32) return null;
  const value = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return [24, 16, 8, 0].map((s) => (value >>> s) & 0xff).join(".");
}

/**
 * The hex of the kernel's interface mask as osquery prints it: FF for each byte compared, which is the
 * name and its terminating NUL, or only the name before a trailing `+` wildcard.
 */
function interfaceMask(name: string): string {
  return "FF".repeat(name.endsWith("+") ? name.length - 1 : name.length + 1);
}

/** A port or range of --sport/--dport (`22`, `1024:`, `:1023`, `1:2`) as osquery's `first:last`. */
function portRange(spec: string): string {
  const [first, last] = spec.includes(":") ? spec.split(":") : [spec, spec];
  return `${first === "" ? "0" : first}:${last === "" || last === undefined ? "65535" : last}`;
}

/** Parses one `[packets:bytes] -A CHAIN ...` rule into the rule's columns. */
function parseRule(ws: string[]): { chain: string; packets: number; bytes: number; fields: Omit<IptablesRow, "filter_name" | "chain" | "policy" | "packets" | "bytes"> } | undefined {
  let packets = 0;
  let bytes = 0;
  const counters = /^\[(\d+):(\d+)\]$/.exec(ws[0] ?? "");
  if (counters !== null) {
    packets = Number(counters[1]);
    bytes = Number(counters[2]);
    ws = ws.slice(1);
  }
  if (ws[0] !== "-A" || ws[1] === undefined) return undefined;
  const fields = {
    target: "" as string | null,
    protocol: 0 as number | null,
    src_port: "" as string | null,
    dst_port: "" as string | null,
    src_ip: "0.0.0.0" as string | null,
    src_mask: "0.0.0.0" as string | null,
    iniface: "all" as string | null,
    iniface_mask: "" as string | null,
    dst_ip: "0.0.0.0" as string | null,
    dst_mask: "0.0.0.0" as string | null,
    outiface: "all" as string | null,
    outiface_mask: "" as string | null,
    match: "yes" as string | null,
  };
  let negate = false;
  let match = "";
  let sport: string | undefined;
  let dport: string | undefined;
  for (let i = 2; i < ws.length; i += 1) {
    const w = ws[i] as string;
    const value = ws[i + 1];
    const not = negate ? "!" : "";
    negate = false;
    if (w === "!") {
      negate = true;
      continue;
    }
    if (value === undefined) continue;
    switch (w) {
      case "-s":
      case "--source":
      case "-d":
      case "--destination": {
        const [addr, mask] = value.split("/");
        const src = w === "-s" || w === "--source";
        fields[src ? "src_ip" : "dst_ip"] = `${not}${addr}`;
        fields[src ? "src_mask" : "dst_mask"] = dottedMask(mask);
        i += 1;
        break;
      }
      case "-i":
      case "--in-interface":
        fields.iniface = `${not}${value}`;
        fields.iniface_mask = interfaceMask(value);
        i += 1;
        break;
      case "-o":
      case "--out-interface":
        fields.outiface = `${not}${value}`;
        fields.outiface_mask = interfaceMask(value);
        i += 1;
        break;
      case "-p":
      case "--protocol": {
        const p = value.toLowerCase();
        fields.protocol = PROTOCOLS[p] ?? (/^\d+$/.test(p) ? Number(p) : null);
        i += 1;
        break;
      }
      case "-m":
      case "--match":
        match = value;
        i += 1;
        break;
      case "--sport":
      case "--source-port":
        if (match === "tcp" || match === "udp") sport = value;
        i += 1;
        break;
      case "--dport":
      case "--destination-port":
        if (match === "tcp" || match === "udp") dport = value;
        i += 1;
        break;
      case "-j":
      case "--jump":
      case "-g":
      case "--goto":
        fields.target = value;
        i += 1;
        break;
    }
  }
  // osquery reads ports from the tcp/udp match of a TCP or UDP rule only; the kernel's default range is all ports.
  if (fields.protocol === 6 || fields.protocol === 17) {
    fields.src_port = portRange(sport ?? "0:65535");
    fields.dst_port = portRange(dport ?? "0:65535");
  }
  return { chain: ws[1], packets, bytes, fields };
}

/**
 * Parses `iptables-save -c` output into osquery's rows: per table (`*filter`), per chain in the order the
 * `:CHAIN POLICY [packets:bytes]` lines declare them, each rule of the chain, then one row for the chain
 * itself (its policy and the policy's counters; no rule columns), as osquery lists them.
 */
export function parseIptablesSave(text: string): IptablesRow[] {
  const rows: IptablesRow[] = [];
  let table: string | undefined;
  let chains: { name: string; policy: string; packets: number; bytes: number; rules: IptablesRow[] }[] = [];
  const flush = () => {
    for (const c of chains) {
      rows.push(...c.rules);
      rows.push({
        filter_name: table as string,
        chain: c.name,
        policy: c.policy,
        target: null,
        protocol: null,
        src_port: null,
        dst_port: null,
        src_ip: null,
        src_mask: null,
        iniface: null,
        iniface_mask: null,
        dst_ip: null,
        dst_mask: null,
        outiface: null,
        outiface_mask: null,
        match: null,
        packets: c.packets,
        bytes: c.bytes,
      });
    }
    chains = [];
  };
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (line.startsWith("*")) {
      flush();
      table = line.slice(1);
    } else if (line === "COMMIT") {
      flush();
      table = undefined;
    } else if (table !== undefined && line.startsWith(":")) {
      const m = /^:(\S+)\s+(\S+)(?:\s+\[(\d+):(\d+)\])?/.exec(line);
      if (m === null) continue;
      const builtin = m[2] !== "-";
      chains.push({ name: m[1] as string, policy: builtin ? (m[2] as string) : "", packets: builtin ? Number(m[3] ?? 0) : 0, bytes: builtin ? Number(m[4] ?? 0) : 0, rules: [] });
    } else if (table !== undefined) {
      const rule = parseRule(words(line));
      const chain = rule === undefined ? undefined : chains.find((c) => c.name === rule.chain);
      if (rule === undefined || chain === undefined) continue;
      chain.rules.push({ filter_name: table, chain: chain.name, policy: chain.policy, ...rule.fields, packets: rule.packets, bytes: rule.bytes });
    }
  }
  flush();
  return rows;
}

/** `iptables`: the IPv4 packet filter rules, as iptables-save prints them. */
export const iptablesTable = defineTable({
  name: "iptables",
  description: `IPv4 packet filter rules of every table and chain, from \`iptables-save -c\` when it is installed (none when it is absent or may not read the rules; it has ${IPTABLES_TIMEOUT_MS / 1000} s) (osquery: iptables).`,
  note: "read through iptables-save (legacy or nft backend) rather than libiptc; an inverted protocol shows without its !; packets and bytes of a rule row are the rule's own counters (osquery repeats the chain's)",
  platforms: ["linux"],
  platformNote: "it reads Linux netfilter rules",
  columns: [
    { name: "filter_name", type: "TEXT", description: "Table: filter, nat, mangle, raw, security" },
    { name: "chain", type: "TEXT", description: "Chain name" },
    { name: "policy", type: "TEXT", description: "Policy of a built-in chain (ACCEPT, DROP); empty for a user chain" },
    { name: "target", type: "TEXT", description: "Target of the rule (-j or -g); null on the chain's own row" },
    { name: "protocol", type: "INTEGER", description: "IP protocol number (0 for all)" },
    { name: "src_port", type: "TEXT", description: "Source ports first:last of a TCP or UDP rule; empty otherwise" },
    { name: "dst_port", type: "TEXT", description: "Destination ports first:last of a TCP or UDP rule; empty otherwise" },
    { name: "src_ip", type: "TEXT", description: "Source address (! when inverted); 0.0.0.0 when any" },
    { name: "src_mask", type: "TEXT", description: "Source mask, dotted" },
    { name: "iniface", type: "TEXT", description: "Input interface (! when inverted); all when any" },
    { name: "iniface_mask", type: "TEXT", description: "Input interface mask, hex bytes" },
    { name: "dst_ip", type: "TEXT", description: "Destination address (! when inverted); 0.0.0.0 when any" },
    { name: "dst_mask", type: "TEXT", description: "Destination mask, dotted" },
    { name: "outiface", type: "TEXT", description: "Output interface (! when inverted); all when any" },
    { name: "outiface_mask", type: "TEXT", description: "Output interface mask, hex bytes" },
    { name: "match", type: "TEXT", description: "yes on every rule row, as osquery reports it; null on the chain's own row" },
    { name: "packets", type: "INTEGER", description: "Packets matched: by the rule, or by the chain's policy on the chain's row" },
    { name: "bytes", type: "INTEGER", description: "Bytes matched: by the rule, or by the chain's policy on the chain's row" },
  ],
  *rows() {
    const bin = IPTABLES_SAVE.find((p) => existsSync(p));
    if (bin === undefined) return;
    const child = spawnSync(bin, ["-c"], {
      timeout: IPTABLES_TIMEOUT_MS,
      killSignal: "SIGKILL",
      maxBuffer: MAX_OUTPUT_BYTES,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      env: { LC_ALL: "C" },
    });
    if (child.signal === "SIGKILL" || (child.error as NodeJS.ErrnoException | undefined)?.code === "ETIMEDOUT") {
      throw new CollectorError("query_failed", `table iptables: ${bin} did not answer within ${IPTABLES_TIMEOUT_MS / 1000} s`);
    }
    // Not permitted (no CAP_NET_ADMIN) or no netfilter tables: no rows, as osquery answers when it cannot read them.
    if (child.error !== undefined || child.status !== 0) return;
    yield* parseIptablesSave(child.stdout);
  },
});
