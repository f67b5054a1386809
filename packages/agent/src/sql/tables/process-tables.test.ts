import { describe, expect, it } from "vitest";
import { parseInetSockets, parseMaps, parseUnixSockets } from "./process-tables.js";

describe("process socket tables", () => {
  it("reads TCP sockets with their state and UDP ones without", () => {
    const tcp = [
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
      "   0: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 31337 1 0 100 0 0 10 0",
      "   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 0 1 0 100 0 0 10 0",
    ].join("\n");
    expect([...parseInetSockets(tcp, "IPv4", 6, true)]).toEqual([
      [
        31337,
        { family: 2, protocol: 6, local_address: "127.0.0.1", remote_address: "127.0.0.1", local_port: 8080, remote_port: 54321, path: null, state: "ESTABLISHED" },
      ],
    ]);
    const udp6 = [
      "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops",
      "   0: 00000000000000000000000001000000:0035 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 777 2 0 0",
    ].join("\n");
    expect(parseInetSockets(udp6, "IPv6", 17, true).get(777)).toEqual({
      family: 10,
      protocol: 17,
      local_address: "::1",
      remote_address: "::",
      local_port: 53,
      remote_port: 0,
      path: null,
      state: "",
    });
  });

  it("reads UNIX sockets with named, abstract and unnamed paths", () => {
    const text = [
      "Num       RefCount Protocol Flags    Type St Inode Path",
      "0000000000000000: 00000002 00000000 00010000 0001 01 4406 /run/my socket.sock",
      "0000000000000000: 00000002 00000000 00010000 0001 01 4407 @/tmp/.X11-unix/X0",
      "0000000000000000: 00000003 00000000 00000000 0001 03 4408",
    ].join("\n");
    const sockets = parseUnixSockets(text);
    expect(sockets.get(4406)).toMatchObject({ family: 1, protocol: 0, path: "/run/my socket.sock", local_port: 0 });
    expect(sockets.get(4407)?.path).toBe("@/tmp/.X11-unix/X0");
    expect(sockets.get(4408)?.path).toBe("");
  });
});

describe("parseMaps", () => {
  it("reads mappings, marking inode-less named regions as pseudo paths", () => {
    const text = [
      "55d0c0a00000-55d0c0a21000 r-xp 00001000 08:01 1048602                    /usr/bin/my prog",
      "55d0c1e9e000-55d0c1ebf000 rw-p 00000000 00:00 0                          [heap]",
      "7f0a4c000000-7f0a4c021000 rw-p 00000000 00:00 0 ",
    ].join("\n");
    expect(parseMaps(text)).toEqual([
      { start: "0x55d0c0a00000", end: "0x55d0c0a21000", permissions: "r-xp", offset: 4096, device: "08:01", inode: 1048602, path: "/usr/bin/my prog", pseudo: 0 },
      { start: "0x55d0c1e9e000", end: "0x55d0c1ebf000", permissions: "rw-p", offset: 0, device: "00:00", inode: 0, path: "[heap]", pseudo: 1 },
      { start: "0x7f0a4c000000", end: "0x7f0a4c021000", permissions: "rw-p", offset: 0, device: "00:00", inode: 0, path: "", pseudo: 0 },
    ]);
  });
});
