import { describe, expect, it } from "vitest";
import { parseModules, parseSysctlConf } from "./kernel.js";

describe("parseModules", () => {
  it("reads name, size, users, state and address, dropping the users' trailing comma", () => {
    const text = "nf_conntrack 176128 2 nf_nat,xt_conntrack, Live 0xffffffffc0a3b000\nvfat 24576 0 - Live 0x0000000000000000 (E)\nshort 1 2\n";
    expect(parseModules(text)).toEqual([
      { name: "nf_conntrack", size: 176128, used_by: "nf_nat,xt_conntrack", status: "Live", address: "0xffffffffc0a3b000" },
      { name: "vfat", size: 24576, used_by: "-", status: "Live", address: "0x0000000000000000" },
    ]);
  });
});

describe("parseSysctlConf", () => {
  it("normalises slash names and the ignore-failure dash, later files overriding earlier ones", () => {
    const config = parseSysctlConf("# c\n; c\nnet.ipv4.ip_forward = 1\nkernel/pid_max=4194304\n-vm.swappiness = 10\nnoequals\n");
    parseSysctlConf("net.ipv4.ip_forward=0\n", config);
    expect(Object.fromEntries(config)).toEqual({ "net.ipv4.ip_forward": "0", "kernel.pid_max": "4194304", "vm.swappiness": "10" });
  });
});
