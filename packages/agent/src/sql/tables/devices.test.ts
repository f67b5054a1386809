import { describe, expect, it } from "vitest";
import { cryptTypeFromDmUuid, parseKeyValues, parsePciIds } from "./devices.js";

describe("parseKeyValues", () => {
  it("reads a uevent file and the E: lines of a udev record", () => {
    expect(Object.fromEntries(parseKeyValues("DRIVER=virtio-pci\nPCI_ID=1AF4:1045\nbroken\n"))).toEqual({ DRIVER: "virtio-pci", PCI_ID: "1AF4:1045" });
    const udev = "S:disk/by-uuid/0b7c\nE:ID_FS_UUID=0b7c-11\nE:ID_FS_TYPE=ext4\nE:ID_FS_LABEL=root=fs\nG:systemd\n";
    expect(Object.fromEntries(parseKeyValues(udev, "E:"))).toEqual({ ID_FS_UUID: "0b7c-11", ID_FS_TYPE: "ext4", ID_FS_LABEL: "root=fs" });
  });
});

describe("cryptTypeFromDmUuid", () => {
  it("recognises cryptsetup's device-mapper uuids only", () => {
    expect(cryptTypeFromDmUuid("CRYPT-LUKS2-3f6c8f0e9a2b4b6c8d0e1f2a3b4c5d6e-luks-3f6c")).toBe("LUKS2");
    expect(cryptTypeFromDmUuid("CRYPT-PLAIN-swap")).toBe("PLAIN");
    expect(cryptTypeFromDmUuid("LVM-abcdef")).toBeNull();
    expect(cryptTypeFromDmUuid(null)).toBeNull();
  });
});

describe("parsePciIds", () => {
  it("reads vendors, devices, subsystems and classes", () => {
    const text = [
      "# comment",
      "1af4  Red Hat, Inc.",
      "\t1045  Virtio memory balloon",
      "\t\t1af4 1100  QEMU Virtual Machine",
      "8086  Intel Corporation",
      "\t0d57  Some bridge",
      "C 06  Bridge",
      "\t00  Host bridge",
      "\t\t00  programming interface (ignored)",
      "C ff  Unassigned class",
    ].join("\n");
    const ids = parsePciIds(text);
    expect(ids.vendors.get("1af4")).toBe("Red Hat, Inc.");
    expect(ids.devices.get("1af4:1045")).toBe("Virtio memory balloon");
    expect(ids.subsystems.get("1af4:1045:1af4:1100")).toBe("QEMU Virtual Machine");
    expect(ids.devices.get("8086:0d57")).toBe("Some bridge");
    expect(ids.classes.get("06")).toBe("Bridge");
    expect(ids.classes.get("06:00")).toBe("Host bridge");
    expect(ids.classes.get("ff")).toBe("Unassigned class");
  });
});
