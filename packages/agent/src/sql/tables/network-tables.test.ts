import { afterEach, describe, expect, it } from "vitest";
import { NO_CONSTRAINTS } from "../table-def.js";
import { fakeHost, type FakeHost } from "../../../test/fake-host.js";
import { etcHostsTable, parseArp, parseEtcHosts, parseEtcServices, parseIpv4Routes, parseIpv6Routes } from "./network-tables.js";

describe("routes", () => {
  it("decodes /proc/net/route: addresses in host byte order, the mask as a prefix length", () => {
    const text = [
      "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT",
      "eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0",
      "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t1500\t0\t0",
    ].join("\n");
    expect(parseIpv4Routes(text, true)).toEqual([
      { destination: "0.0.0.0", netmask: 0, gateway: "192.0.2.1", flags: 3, interface: "eth0", mtu: 0, metric: 100, type: "gateway" },
      { destination: "192.0.2.0", netmask: 24, gateway: "0.0.0.0", flags: 1, interface: "eth0", mtu: 1500, metric: 0, type: "gateway" },
    ]);
  });

  it("decodes /proc/net/ipv6_route in network byte order and marks local routes", () => {
    const text = [
      "20010db8000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0",
      "00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo",
    ].join("\n");
    expect(parseIpv6Routes(text)).toEqual([
      { destination: "2001:db8::", netmask: 64, gateway: "::", flags: 1, interface: "eth0", mtu: 0, metric: 256, type: "gateway" },
      { destination: "::1", netmask: 128, gateway: "::", flags: 0x80200001, interface: "lo", mtu: 0, metric: 0, type: "local" },
    ]);
  });
});

describe("parseArp", () => {
  it("reads address, MAC and device; flags 0x6 are permanent", () => {
    const text = [
      "IP address       HW type     Flags       HW address            Mask     Device",
      "192.0.2.1        0x1         0x2         02:fc:00:00:00:05     *        eth0",
      "192.0.2.7        0x1         0x6         02:fc:00:00:00:07     *        eth0",
    ].join("\n");
    expect(parseArp(text)).toEqual([
      { address: "192.0.2.1", mac: "02:fc:00:00:00:05", interface: "eth0", permanent: "0" },
      { address: "192.0.2.7", mac: "02:fc:00:00:00:07", interface: "eth0", permanent: "1" },
    ]);
  });
});

describe("etc_hosts and etc_services", () => {
  it("parses /etc/hosts up to comments", () => {
    expect(parseEtcHosts("# c\n127.0.0.1\tlocalhost\n::1 localhost ip6-localhost # loopback\n\n10.0.0.1\n")).toEqual([
      { address: "127.0.0.1", hostnames: "localhost" },
      { address: "::1", hostnames: "localhost ip6-localhost" },
      { address: "10.0.0.1", hostnames: "" },
    ]);
  });

  it("parses /etc/services with aliases and comments", () => {
    expect(parseEtcServices("# c\nssh\t\t22/tcp\t\t\t# SSH Remote Login Protocol\nsmtp 25/tcp mail\nbad line\nx y/tcp\n")).toEqual([
      { name: "ssh", port: 22, protocol: "tcp", aliases: "", comment: "SSH Remote Login Protocol" },
      { name: "smtp", port: 25, protocol: "tcp", aliases: "mail", comment: null },
    ]);
  });

  describe("etc_hosts table", () => {
    let host: FakeHost;
    afterEach(() => host.remove());

    it("reads /etc/hosts under the host root, and nothing when it is absent", () => {
      host = fakeHost();
      expect([...etcHostsTable.rows(host.ctx(), NO_CONSTRAINTS)]).toEqual([]);
      host.write("/etc/hosts", "192.0.2.10 db.internal db\n");
      expect([...etcHostsTable.rows(host.ctx(), NO_CONSTRAINTS)]).toEqual([{ address: "192.0.2.10", hostnames: "db.internal db" }]);
    });
  });
});
