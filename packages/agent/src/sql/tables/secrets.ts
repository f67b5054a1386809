import { readFileSync } from "node:fs";
import { join } from "node:path";
import { defineTable, type TableContext } from "../table-def.js";
import { listDir } from "./file-patterns.js";
import { isVanishedError, listPids, passwd, readTextIfPresent } from "./proc.js";

/** Each local user with a home directory, once per distinct home (several system users share `/`). */
export function* homes(ctx: TableContext): Generator<{ uid: number; home: string }> {
  const seen = new Set<string>();
  for (const u of passwd(ctx)) {
    if (u.home === "" || u.home === "/" || seen.has(u.home)) continue;
    seen.add(u.home);
    yield { uid: u.uid, home: u.home };
  }
}

/** `process_envs`: the environment of every process the agent may read. */
export const processEnvsTable = defineTable({
  name: "process_envs",
  description: "Environment variables of each process, from /proc/<pid>/environ (secret: off unless enabled).",
  platforms: ["linux"],
  platformNote: "it reads /proc/<pid>/environ",
  secret: true,
  columns: [
    { name: "pid", type: "INTEGER", description: "Process id" },
    { name: "key", type: "TEXT", description: "Variable name" },
    { name: "value", type: "TEXT", description: "Variable value" },
  ],
  *rows() {
    for (const pid of listPids("process_envs")) {
      let environ: string;
      try {
        environ = readFileSync(`/proc/${pid}/environ`, "utf8");
      } catch (err) {
        if (isVanishedError(err)) continue; // exited, or another user's process
        throw err;
      }
      for (const entry of environ.split("\0")) {
        const eq = entry.indexOf("=");
        if (eq <= 0) continue;
        yield { pid, key: entry.slice(0, eq), value: entry.slice(eq + 1) };
      }
    }
  },
});

const HISTORY_FILES = [".bash_history", ".zsh_history", ".zhistory", ".history", ".sh_history"];

/**
 * Parses a shell history file: zsh's extended `: <time>:<duration>;<command>` lines, bash's
 * `#<time>` comment before a command (HISTTIMEFORMAT), and plain lines (time 0).
 */
export function parseShellHistory(text: string): { time: number; command: string }[] {
  const out: { time: number; command: string }[] = [];
  let pendingTime = 0;
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const bashTime = /^#(\d{9,})$/.exec(line);
    if (bashTime !== null) {
      pendingTime = Number(bashTime[1]);
      continue;
    }
    const zsh = /^: (\d+):\d+;(.*)$/.exec(line);
    if (zsh !== null) out.push({ time: Number(zsh[1]), command: zsh[2] as string });
    else out.push({ time: pendingTime, command: line });
    pendingTime = 0;
  }
  return out;
}

/** `shell_history`: commands from the users' shell history files. */
export const shellHistoryTable = defineTable({
  name: "shell_history",
  description: "Commands of each user's shell history file (~/.bash_history, ~/.zsh_history, ...) (secret: off unless enabled).",
  platforms: ["linux", "darwin", "freebsd", "openbsd", "netbsd"],
  platformNote: "it reads POSIX home directories",
  secret: true,
  columns: [
    { name: "uid", type: "INTEGER", description: "Owner of the history file" },
    { name: "time", type: "INTEGER", description: "When the command ran, Unix seconds; 0 when the file does not say" },
    { name: "command", type: "TEXT", description: "The command line" },
    { name: "history_file", type: "TEXT", description: "Path of the history file" },
  ],
  *rows(ctx) {
    for (const { uid, home } of homes(ctx)) {
      for (const name of HISTORY_FILES) {
        const file = join(home, name);
        const text = readTextIfPresent(ctx.hostPath(file));
        if (text === undefined) continue;
        for (const entry of parseShellHistory(text)) yield { uid, ...entry, history_file: file };
      }
    }
  },
});

const KEY_TYPE = /^(ssh-(rsa|dss|ed25519|ed448)|ecdsa-sha2-\S+|sk-\S+@openssh\.com)$/;

/** One line of authorized_keys(5): `[options] keytype base64 [comment]`; undefined for comments and junk. */
export function parseAuthorizedKey(line: string): { algorithm: string; key: string; options: string; comment: string } | undefined {
  const text = line.trim();
  if (text === "" || text.startsWith("#")) return undefined;
  // Options may hold quoted spaces, so find the key type as the first field that is one.
  const fields = text.match(/(?:"(?:[^"\\]|\\.)*"|[^\s"])+/g) ?? [];
  const at = fields.findIndex((f) => KEY_TYPE.test(f));
  if (at < 0 || fields[at + 1] === undefined) return undefined;
  return {
    algorithm: fields[at] as string,
    key: fields[at + 1] as string,
    options: fields.slice(0, at).join(" "),
    comment: fields.slice(at + 2).join(" "),
  };
}

/** `authorized_keys`: the keys allowed to log in as each user. */
export const authorizedKeysTable = defineTable({
  name: "authorized_keys",
  description: "Keys of each user's ~/.ssh/authorized_keys and authorized_keys2 (secret: off unless enabled; comments name people).",
  platforms: ["linux", "darwin", "freebsd", "openbsd", "netbsd"],
  platformNote: "it reads POSIX home directories",
  secret: true,
  columns: [
    { name: "uid", type: "INTEGER", description: "Owner of the authorized_keys file" },
    { name: "algorithm", type: "TEXT", description: "Key type (ssh-ed25519, ssh-rsa, ...)" },
    { name: "key", type: "TEXT", description: "The key, base64" },
    { name: "options", type: "TEXT", description: "Login options before the key; empty when none" },
    { name: "comment", type: "TEXT", description: "Comment after the key" },
    { name: "key_file", type: "TEXT", description: "Path of the authorized_keys file" },
  ],
  *rows(ctx) {
    for (const { uid, home } of homes(ctx)) {
      for (const name of ["authorized_keys", "authorized_keys2"]) {
        const file = join(home, ".ssh", name);
        const text = readTextIfPresent(ctx.hostPath(file));
        if (text === undefined) continue;
        for (const line of text.split("\n")) {
          const key = parseAuthorizedKey(line);
          if (key !== undefined) yield { uid, ...key, key_file: file };
        }
      }
    }
  },
});

/** What a private key file says about itself without its passphrase. */
export interface PrivateKeyFacts {
  encrypted: boolean;
  keyType: string;
  keyLength: number;
}

const OPENSSH_TYPES: Readonly<Record<string, { type: string; bits: number }>> = {
  "ssh-ed25519": { type: "ed25519", bits: 256 },
  "ecdsa-sha2-nistp256": { type: "ec", bits: 256 },
  "ecdsa-sha2-nistp384": { type: "ec", bits: 384 },
  "ecdsa-sha2-nistp521": { type: "ec", bits: 521 },
  "ssh-dss": { type: "dsa", bits: -1 },
  "ssh-rsa": { type: "rsa", bits: -1 },
};

/** Reads length-prefixed strings of an SSH wire blob. */
function sshStrings(buf: Buffer, at: number, count: number): { values: Buffer[]; next: number } | undefined {
  const values: Buffer[] = [];
  let pos = at;
  for (let i = 0; i < count; i += 1) {
    if (pos + 4 > buf.length) return undefined;
    const len = buf.readUInt32BE(pos);
    if (pos + 4 + len > buf.length) return undefined;
    values.push(buf.subarray(pos + 4, pos + 4 + len));
    pos += 4 + len;
  }
  return { values, next: pos };
}

/**
 * Recognises a private key (PEM or OpenSSH format) and tells whether it is encrypted and its type;
 * undefined for any other file. Only the public parts are decoded, never the secret material.
 */
export function privateKeyFacts(text: string): PrivateKeyFacts | undefined {
  const pem = /-----BEGIN ((?:RSA |DSA |EC |ENCRYPTED |OPENSSH )?PRIVATE KEY)-----([\s\S]*?)-----END/.exec(text);
  if (pem === null) return undefined;
  const label = pem[1] as string;
  if (label === "OPENSSH PRIVATE KEY") {
    const blob = Buffer.from((pem[2] as string).replace(/\s+/g, ""), "base64");
    const magic = "openssh-key-v1\0";
    if (blob.subarray(0, magic.length).toString("latin1") !== magic) return { encrypted: false, keyType: "", keyLength: -1 };
    const head = sshStrings(blob, magic.length, 3); // ciphername, kdfname, kdfoptions
    if (head === undefined) return { encrypted: false, keyType: "", keyLength: -1 };
    const encrypted = head.values[0]?.toString("latin1") !== "none";
    const pub = sshStrings(blob, head.next + 4, 1)?.values[0]; // skip the key count
    const pubFields = pub === undefined ? undefined : sshStrings(pub, 0, 3);
    const name = pubFields?.values[0]?.toString("latin1") ?? "";
    const known = OPENSSH_TYPES[name];
    let bits = known?.bits ?? -1;
    if (name === "ssh-rsa" && pubFields?.values[2] !== undefined) {
      const n = pubFields.values[2];
      const lead = n[0] === 0 ? 1 : 0;
      bits = (n.length - lead) * 8 - Math.clz32(n[lead] ?? 0) + 24;
    }
    return { encrypted, keyType: known?.type ?? name, keyLength: bits };
  }
  const encrypted = label === "ENCRYPTED PRIVATE KEY" || /Proc-Type:\s*4,ENCRYPTED/.test(pem[2] as string);
  const keyType = label.startsWith("RSA") ? "rsa" : label.startsWith("DSA") ? "dsa" : label.startsWith("EC") && label !== "ENCRYPTED PRIVATE KEY" ? "ec" : "";
  return { encrypted, keyType, keyLength: -1 };
}

/** `user_ssh_keys`: private keys in the users' ~/.ssh directories, and whether a passphrase protects them. */
export const userSshKeysTable = defineTable({
  name: "user_ssh_keys",
  description: "Private keys found in each user's ~/.ssh and whether they are encrypted (secret: off unless enabled).",
  platforms: ["linux", "darwin", "freebsd", "openbsd", "netbsd"],
  platformNote: "it reads POSIX home directories",
  secret: true,
  columns: [
    { name: "uid", type: "INTEGER", description: "Owner of the key file" },
    { name: "path", type: "TEXT", description: "Path of the key file" },
    { name: "encrypted", type: "INTEGER", description: "1 if a passphrase protects the key, else 0" },
    { name: "key_type", type: "TEXT", description: "rsa, dsa, ec, ed25519, or empty when unknown" },
    { name: "key_group_name", type: "TEXT", description: "Curve or group name; empty", note: "always empty" },
    { name: "key_length", type: "INTEGER", description: "Key size in bits; -1 when unavailable (encrypted PEM keys)" },
    { name: "key_security_bits", type: "INTEGER", description: "Security strength in bits; -1 (not computed)", note: "always -1" },
  ],
  *rows(ctx) {
    for (const { uid, home } of homes(ctx)) {
      const dir = join(home, ".ssh");
      for (const name of listDir(ctx.hostPath(dir)).sort()) {
        if (name.endsWith(".pub") || name === "authorized_keys" || name === "known_hosts") continue;
        const path = join(dir, name);
        let text: string | undefined;
        try {
          text = readTextIfPresent(ctx.hostPath(path));
        } catch {
          continue; // a directory or something else unreadable as text
        }
        const facts = text === undefined ? undefined : privateKeyFacts(text);
        if (facts === undefined) continue;
        yield { uid, path, encrypted: facts.encrypted ? 1 : 0, key_type: facts.keyType, key_group_name: "", key_length: facts.keyLength, key_security_bits: -1 };
      }
    }
  },
});
