import { defineTable, type TableContext } from "../table-def.js";
import { listDir, readHostText } from "./host-files.js";
import { readTextIfPresent } from "./proc.js";
import { attr, numberOrNull, parseKeyValues } from "./sysfs.js";

/** Names from a pci.ids database: vendors, devices, subsystems and classes, keyed by lower-case hex ids. */
export interface PciIds {
  vendors: Map<string, string>;
  /** "vendor:device" → name. */
  devices: Map<string, string>;
  /** "vendor:device:subvendor:subdevice" → name. */
  subsystems: Map<string, string>;
  /** "class" → name and "class:subclass" → name. */
  classes: Map<string, string>;
}

/** Parses pci.ids (tab-indented vendor / device / subsystem lines, then `C` class / subclass lines). */
export function parsePciIds(text: string): PciIds {
  const ids: PciIds = { vendors: new Map(), devices: new Map(), subsystems: new Map(), classes: new Map() };
  let vendor: string | undefined;
  let device: string | undefined;
  let cls: string | undefined;
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    let m: RegExpExecArray | null;
    if ((m = /^C ([0-9a-f]{2})\s+(.*)$/i.exec(line))) {
      cls = m[1]!.toLowerCase();
      vendor = undefined;
      ids.classes.set(cls, m[2]!);
    } else if ((m = /^([0-9a-f]{4})\s+(.*)$/i.exec(line))) {
      vendor = m[1]!.toLowerCase();
      cls = undefined;
      ids.vendors.set(vendor, m[2]!);
    } else if ((m = /^\t([0-9a-f]{4})\s+(.*)$/i.exec(line)) && vendor !== undefined) {
      device = m[1]!.toLowerCase();
      ids.devices.set(`${vendor}:${device}`, m[2]!);
    } else if ((m = /^\t\t([0-9a-f]{4}) ([0-9a-f]{4})\s+(.*)$/i.exec(line)) && vendor !== undefined && device !== undefined) {
      ids.subsystems.set(`${vendor}:${device}:${m[1]!.toLowerCase()}:${m[2]!.toLowerCase()}`, m[3]!);
    } else if ((m = /^\t([0-9a-f]{2})\s+(.*)$/i.exec(line)) && cls !== undefined) {
      ids.classes.set(`${cls}:${m[1]!.toLowerCase()}`, m[2]!);
    }
  }
  return ids;
}

const PCI_IDS_PATHS = ["/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids", "/usr/share/pci.ids"];

function pciIds(ctx: TableContext): PciIds {
  return ctx.memo("devices.pci-ids", () => {
    for (const p of PCI_IDS_PATHS) {
      const text = readHostText(ctx, p);
      if (text !== undefined) return parsePciIds(text);
    }
    return parsePciIds("");
  });
}

/** Splits a uevent `XXXX:YYYY` id pair into lower-case halves. */
function idPair(value: string | undefined): [string, string] | undefined {
  const m = /^([0-9a-f]+):([0-9a-f]+)$/i.exec(value ?? "");
  return m === null ? undefined : [m[1]!.toLowerCase(), m[2]!.toLowerCase()];
}

/** `pci_devices`: PCI devices, named from pci.ids when the host has it. */
export const pciDevicesTable = defineTable({
  name: "pci_devices",
  description: "PCI devices from /sys/bus/pci/devices, with vendor, model and class names from pci.ids when installed (osquery: pci_devices).",
  platforms: ["linux"],
  platformNote: "it reads /sys/bus/pci",
  columns: [
    { name: "pci_slot", type: "TEXT", description: "Slot (domain:bus:device.function)" },
    { name: "pci_class", type: "TEXT", description: "Class name; empty without pci.ids" },
    { name: "driver", type: "TEXT", description: "Bound kernel driver" },
    { name: "vendor", type: "TEXT", description: "Vendor name; empty without pci.ids" },
    { name: "vendor_id", type: "TEXT", description: "Vendor id, 0x-prefixed hex" },
    { name: "model", type: "TEXT", description: "Model name; empty without pci.ids" },
    { name: "model_id", type: "TEXT", description: "Model (device) id, 0x-prefixed hex" },
    { name: "pci_class_id", type: "TEXT", description: "Class id, 0x-prefixed hex" },
    { name: "pci_subclass_id", type: "TEXT", description: "Subclass id, 0x-prefixed hex" },
    { name: "pci_subclass", type: "TEXT", description: "Subclass name; empty without pci.ids" },
    { name: "subsystem_vendor_id", type: "TEXT", description: "Subsystem vendor id, 0x-prefixed hex" },
    { name: "subsystem_vendor", type: "TEXT", description: "Subsystem vendor name; empty without pci.ids" },
    { name: "subsystem_model_id", type: "TEXT", description: "Subsystem model id, 0x-prefixed hex" },
    { name: "subsystem_model", type: "TEXT", description: "Subsystem model name; empty without pci.ids" },
  ],
  *rows(ctx) {
    const slots = listDir("/sys/bus/pci/devices");
    if (slots.length === 0) return;
    const names = pciIds(ctx);
    for (const slot of slots) {
      const uevent = parseKeyValues(readTextIfPresent(`/sys/bus/pci/devices/${slot}/uevent`) ?? "");
      const [vendor, model] = idPair(uevent.get("PCI_ID")) ?? ["", ""];
      const [subVendor, subModel] = idPair(uevent.get("PCI_SUBSYS_ID")) ?? ["", ""];
      // PCI_CLASS is 6 hex digits (class, subclass, programming interface), or 5 when the class is < 0x10.
      const classHex = (uevent.get("PCI_CLASS") ?? "").toLowerCase().padStart(6, "0");
      const cls = classHex.slice(0, 2);
      const sub = classHex.slice(2, 4);
      yield {
        pci_slot: uevent.get("PCI_SLOT_NAME") ?? slot,
        pci_class: names.classes.get(cls) ?? "",
        driver: uevent.get("DRIVER") ?? "",
        vendor: names.vendors.get(vendor) ?? "",
        vendor_id: vendor === "" ? "0" : `0x${vendor}`,
        model: names.devices.get(`${vendor}:${model}`) ?? "",
        model_id: model === "" ? "0" : `0x${model}`,
        pci_class_id: `0x${cls}`,
        pci_subclass_id: `0x${sub}`,
        pci_subclass: names.classes.get(`${cls}:${sub}`) ?? "",
        subsystem_vendor_id: subVendor === "" ? "" : `0x${subVendor}`,
        subsystem_vendor: names.vendors.get(subVendor) ?? "",
        subsystem_model_id: subModel === "" ? "" : `0x${subModel}`,
        subsystem_model: names.subsystems.get(`${vendor}:${model}:${subVendor}:${subModel}`) ?? "",
      };
    }
  },
});

/** `usb_devices`: USB devices plugged in (not their interfaces). */
export const usbDevicesTable = defineTable({
  name: "usb_devices",
  description: "USB devices from /sys/bus/usb/devices, root hubs included; interfaces are not devices and are left out (osquery: usb_devices).",
  platforms: ["linux"],
  platformNote: "it reads /sys/bus/usb",
  columns: [
    { name: "usb_address", type: "INTEGER", description: "Bus number" },
    { name: "usb_port", type: "INTEGER", description: "Device number on the bus" },
    { name: "vendor", type: "TEXT", description: "Manufacturer string the device reports" },
    { name: "vendor_id", type: "TEXT", description: "Vendor id, 4 hex digits" },
    { name: "version", type: "TEXT", description: "Device release (bcdDevice), 4 hex digits" },
    { name: "model", type: "TEXT", description: "Product string the device reports" },
    { name: "model_id", type: "TEXT", description: "Product id, 4 hex digits" },
    { name: "serial", type: "TEXT", description: "Serial number string" },
    { name: "class", type: "TEXT", description: "Device class, decimal" },
    { name: "subclass", type: "TEXT", description: "Device subclass, decimal" },
    { name: "protocol", type: "TEXT", description: "Device protocol, decimal" },
    { name: "removable", type: "INTEGER", description: "1 removable, 0 fixed, -1 unknown" },
  ],
  *rows() {
    yield* readUsbDevices();
  },
});

/** The USB devices of `sysDevices` (/sys/bus/usb/devices) as usb_devices rows. */
export function* readUsbDevices(sysDevices = "/sys/bus/usb/devices") {
  for (const entry of listDir(sysDevices)) {
    // Interfaces are named bus-port:config.interface; devices and root hubs (usbN) have no colon.
    if (entry.includes(":")) continue;
    const dir = `${sysDevices}/${entry}`;
    const uevent = parseKeyValues(readTextIfPresent(`${dir}/uevent`) ?? "");
    const [cls, sub, proto] = (uevent.get("TYPE") ?? "").split("/");
    const removable = attr(`${dir}/removable`);
    yield {
      usb_address: numberOrNull(attr(`${dir}/busnum`)),
      usb_port: numberOrNull(attr(`${dir}/devnum`)),
      vendor: attr(`${dir}/manufacturer`) ?? "",
      vendor_id: attr(`${dir}/idVendor`) ?? "",
      version: attr(`${dir}/bcdDevice`) ?? "",
      model: attr(`${dir}/product`) ?? "",
      model_id: attr(`${dir}/idProduct`) ?? "",
      serial: attr(`${dir}/serial`) ?? "",
      class: cls ?? "",
      subclass: sub ?? "",
      protocol: proto ?? "",
      removable: removable === "removable" ? 1 : removable === "fixed" ? 0 : -1,
    };
  }
}
