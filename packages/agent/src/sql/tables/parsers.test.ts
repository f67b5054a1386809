import { describe, expect, it } from "vitest";
import { decodeProcAddress, parseProcNet } from "./listening-ports.js";
import { parseMounts } from "./mounts.js";
import { parseCmdline, parseProcStat } from "./processes.js";
import { parsePasswd } from "./proc.js";
import { parseMeminfo } from "./resources.js";
import { parseOsRelease } from "./system.js";

describe("parseProcStat", () => {
  it("finds the fields after a command name with spaces and parentheses", () => {
    const line =
      "4242 (tmux: server (1)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 -5 3 0 12345 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
    expect(parseProcStat(line)).toEqual({
      pid: 4242,
      name: "tmux: server (1)",
      state: "S",
      ppid: 1,
      pgid: 4242,
      utimeTicks: 250,
      stimeTicks: 75,
      nice: -5,
      threads: 3,
      startTicks: 12345,
      vsizeBytes: 104857600,
      rssPages: 2560,
    });
  });

  it("rejects a truncated line", () => {
    expect(parseProcStat("12 (x) S 1 2")).toBeUndefined();
  });

  it("joins cmdline arguments", () => {
    expect(parseCmdline(Buffer.from("node\0--flag\0a b\0"))).toBe("node --flag a b");
    expect(parseCmdline(Buffer.alloc(0))).toBe("");
  });
});

describe("parseProcNet", () => {
  const tcp = [
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
    "   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 31337 1 0 100 0 0 10 0",
    "   1: 0100007F:0CEB 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 31338 1 0 100 0 0 10 0",
  ].join("\n");

  it("keeps TCP sockets in LISTEN only", () => {
    expect(parseProcNet(tcp, "tcp", "IPv4")).toEqual([
      { protocol: "tcp", family: "IPv4", address: "127.0.0.1", port: 3306, uid: 1000, inode: 31337 },
    ]);
  });

  it("keeps bound, unconnected UDP sockets only", () => {
    const udp = [
      "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops",
      "  100: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 555 2 0 0",
      "  101: 0100007F:9C40 0100007F:0035 01 00000000:00000000 00:00000000 00000000     0        0 556 2 0 0",
    ].join("\n");
    expect(parseProcNet(udp, "udp", "IPv4")).toEqual([{ protocol: "udp", family: "IPv4", address: "0.0.0.0", port: 68, uid: 0, inode: 555 }]);
  });

  it("decodes IPv6 words in host byte order into canonical text", () => {
    expect(decodeProcAddress("00000000000000000000000001000000", "IPv6", true)).toBe("::1");
    expect(decodeProcAddress("0000000000000000FFFF00000100007F", "IPv6", true)).toBe("::ffff:127.0.0.1");
    expect(decodeProcAddress("B80D0120000000000000000001000000", "IPv6", true)).toBe("2001:db8::1");
    expect(decodeProcAddress("7F000001", "IPv4", false)).toBe("127.0.0.1");
  });
});

describe("parseMounts", () => {
  it("undoes the kernel's octal escapes", () => {
    expect(parseMounts("/dev/sdb1 /media/my\\040disk ext4 rw,relatime 0 0\n")).toEqual([
      { device: "/dev/sdb1", path: "/media/my disk", type: "ext4", options: "rw,relatime" },
    ]);
  });
});

describe("parsePasswd", () => {
  it("drops the password field and skips comments and NIS lines", () => {
    const text = "# comment\nroot:x:0:0:root:/root:/bin/bash\n+nisuser::::::\nbad line\nalice:$6$hash:1000:1000:Alice,,,:/home/alice:/bin/zsh\n";
    const entries = parsePasswd(text);
    expect(entries).toEqual([
      { name: "root", uid: 0, gid: 0, description: "root", home: "/root", shell: "/bin/bash" },
      { name: "alice", uid: 1000, gid: 1000, description: "Alice,,,", home: "/home/alice", shell: "/bin/zsh" },
    ]);
    expect(JSON.stringify(entries)).not.toContain("$6$");
  });
});

describe("parseOsRelease", () => {
  it("unquotes values and their escapes", () => {
    const f = parseOsRelease('NAME="Debian GNU/Linux"\nID=debian\nPRETTY_NAME="A \\"quoted\\" name"\nVERSION=\'12 (bookworm)\'\n# c\n');
    expect(Object.fromEntries(f)).toEqual({ NAME: "Debian GNU/Linux", ID: "debian", PRETTY_NAME: 'A "quoted" name', VERSION: "12 (bookworm)" });
  });
});

describe("parseMeminfo", () => {
  it("reads kB fields as bytes and plain counts as is", () => {
    const m = parseMeminfo("MemTotal:       16384 kB\nHugePages_Total:       4\n");
    expect(Object.fromEntries(m)).toEqual({ MemTotal: 16384 * 1024, HugePages_Total: 4 });
  });
});
