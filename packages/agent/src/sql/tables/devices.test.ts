import { afterEach, describe, expect, it } from "vitest";
import { cryptTypeFromDmUuid, encryptionRows, readBlockDevices } from "./block-devices.js";
import { parsePciIds, readUsbDevices } from "./bus-devices.js";
import { parseKeyValues } from "./sysfs.js";
import { fakeHost, type FakeHost } from "../../../test/fake-host.js";

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

describe("sysfs reads (what lsblk and lsusb read)", () => {
  let host: FakeHost;
  afterEach(() => host.remove());

  it("lists disks then their partitions, with udev's file-system facts, and finds dm-crypt mappings", () => {
    host = fakeHost();
    const sys = "/sys/block";
    host.write(`${sys}/vda/dev`, "254:0\n");
    host.write(`${sys}/vda/size`, "41943040\n");
    host.write(`${sys}/vda/queue/logical_block_size`, "512\n");
    host.write(`${sys}/vda/serial`, "disk-serial\n");
    host.write(`${sys}/vda/vda1/partition`, "1\n");
    host.write(`${sys}/vda/vda1/dev`, "254:1\n");
    host.write(`${sys}/vda/vda1/size`, "2048\n");
    host.write(`${sys}/vda/power/control`, "auto\n");
    host.write(`${sys}/dm-0/dev`, "253:0\n");
    host.write(`${sys}/dm-0/size`, "4096\n");
    host.write(`${sys}/dm-0/queue/logical_block_size`, "4096\n");
    host.write(`${sys}/dm-0/dm/uuid`, "CRYPT-LUKS2-0123456789abcdef0123456789abcdef-root\n");
    host.write("/run/udev/data/b254:1", "E:ID_FS_UUID=1111-2222\nE:ID_FS_TYPE=crypto_LUKS\nE:ID_FS_LABEL=\n");
    host.write("/run/udev/data/b253:0", "E:ID_FS_UUID=abcd\nE:ID_FS_TYPE=ext4\nE:ID_FS_LABEL=root\n");
    const devices = readBlockDevices(host.ctx(), `${host.root}${sys}`);
    expect(devices.map(({ cryptType: _c, ...d }) => d)).toEqual([
      { name: "/dev/dm-0", parent: "", vendor: "", model: "", serial: "", size: 4096, block_size: 4096, uuid: "abcd", type: "ext4", label: "root" },
      { name: "/dev/vda", parent: "", vendor: "", model: "", serial: "disk-serial", size: 41943040, block_size: 512, uuid: "", type: "", label: "" },
      { name: "/dev/vda1", parent: "/dev/vda", vendor: "", model: "", serial: "disk-serial", size: 2048, block_size: 512, uuid: "1111-2222", type: "crypto_LUKS", label: "" },
    ]);
    expect(encryptionRows(devices)).toEqual([
      { name: "/dev/dm-0", uuid: "abcd", encrypted: 1, type: "LUKS2", encryption_status: "encrypted" },
      { name: "/dev/vda", uuid: "", encrypted: 0, type: "", encryption_status: "not encrypted" },
      { name: "/dev/vda1", uuid: "1111-2222", encrypted: 0, type: "", encryption_status: "not encrypted" },
    ]);
  });

  it("lists USB devices and root hubs, not their interfaces", () => {
    host = fakeHost();
    const dir = `${host.root}/sys/bus/usb/devices`;
    host.write("/sys/bus/usb/devices/1-1/uevent", "DEVTYPE=usb_device\nTYPE=0/0/0\n");
    for (const [file, value] of Object.entries({ busnum: "1", devnum: "3", manufacturer: "Yubico", product: "YubiKey OTP+FIDO+CCID", idVendor: "1050", idProduct: "0407", bcdDevice: "0526", removable: "removable" })) {
      host.write(`/sys/bus/usb/devices/1-1/${file}`, `${value}\n`);
    }
    host.write("/sys/bus/usb/devices/1-1:1.0/uevent", "DEVTYPE=usb_interface\n");
    host.write("/sys/bus/usb/devices/usb1/uevent", "TYPE=9/0/1\n");
    host.write("/sys/bus/usb/devices/usb1/busnum", "1\n");
    host.write("/sys/bus/usb/devices/usb1/devnum", "1\n");
    expect([...readUsbDevices(dir)]).toEqual([
      { usb_address: 1, usb_port: 3, vendor: "Yubico", vendor_id: "1050", version: "0526", model: "YubiKey OTP+FIDO+CCID", model_id: "0407", serial: "", class: "0", subclass: "0", protocol: "0", removable: 1 },
      { usb_address: 1, usb_port: 1, vendor: "", vendor_id: "", version: "", model: "", model_id: "", serial: "", class: "9", subclass: "0", protocol: "1", removable: -1 },
    ]);
  });
});
