import { describe, expect, it } from "vitest";
import { parseCpuid } from "./cpuid.js";

/** /proc/cpuinfo of a two-CPU x86 guest, trimmed: the second block repeats the first. */
const X86 = `processor	: 0
vendor_id	: AuthenticAMD
cpu family	: 25
model		: 1
model name	: AMD EPYC 7763 64-Core Processor
stepping	: 1
flags		: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx lm pni pclmulqdq ssse3 fma cx16 sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm svm avx2 smep bmi2 erms invpcid rdseed adx smap clflushopt clwb sha_ni umip vaes
bogomips	: 4890.85

processor	: 1
vendor_id	: AuthenticAMD
cpu family	: 25
model name	: AMD EPYC 7763 64-Core Processor
flags		: fpu vme de pse tsc msr pae
`;

/** /proc/cpuinfo of an arm64 host: no vendor or model name, features under "Features". */
const ARM64 = `processor	: 0
BogoMIPS	: 50.00
Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics
CPU implementer	: 0x41

processor	: 1
Features	: fp asimd
`;

describe("cpuid", () => {
  it("derives osquery's rows from the first processor of /proc/cpuinfo", () => {
    const rows = parseCpuid(X86);
    const by = new Map(rows.map((r) => [r.feature, r]));
    expect(rows.slice(0, 3)).toEqual([
      { feature: "vendor", value: "AuthenticAMD", output_register: "ebx,edx,ecx", output_bit: 0, input_eax: "0" },
      { feature: "product_name", value: "AMD EPYC 7763 64-Core Processor", output_register: "eax,ebx,ecx,edx", output_bit: 0, input_eax: "0x80000002" },
      // Family 25 (0x19) is base family 0xf plus an extended family; osquery shows the base field only.
      { feature: "family", value: "0f00", output_register: "eax", output_bit: 0, input_eax: "1" },
    ]);
    // osquery's names for the kernel's flags, with their leaf, register and bit.
    expect(by.get("sse4.1")).toEqual({ feature: "sse4.1", value: "1", output_register: "ecx", output_bit: 19, input_eax: "1" });
    expect(by.get("sse3")).toMatchObject({ value: "1", output_bit: 0 });
    expect(by.get("mmz")).toMatchObject({ value: "1", output_register: "edx", output_bit: 23 });
    expect(by.get("htt")).toMatchObject({ value: "1" });
    expect(by.get("sha")).toMatchObject({ value: "1", output_register: "ebx", output_bit: 29, input_eax: "7" });
    expect(by.get("svm")).toMatchObject({ value: "1", input_eax: String(0x80000001) });
    // Absent features read 0, as osquery reports them.
    expect(by.get("vmx")).toMatchObject({ value: "0", output_register: "ecx", output_bit: 5 });
    expect(by.get("avx512f")).toMatchObject({ value: "0" });
    // Other kernel flags are listed too, with what their name cannot tell left null.
    expect(by.get("fma")).toEqual({ feature: "fma", value: "1", output_register: null, output_bit: null, input_eax: null });
    expect(by.has("sse4_1")).toBe(false);
    expect(by.has("clflush")).toBe(false);
    expect(rows.filter((r) => r.feature === "pae")).toHaveLength(1);
  });

  it("gives the family field of an Intel family 6 as 0600", () => {
    expect(parseCpuid("vendor_id : GenuineIntel\ncpu family : 6\nflags : sse\n").find((r) => r.feature === "family")?.value).toBe("0600");
  });

  it("lists arm64 Features with null registers, and nothing from an empty file", () => {
    expect(parseCpuid(ARM64)).toEqual(
      ["fp", "asimd", "evtstrm", "aes", "pmull", "sha1", "sha2", "crc32", "atomics"].map((feature) => ({
        feature,
        value: "1",
        output_register: null,
        output_bit: null,
        input_eax: null,
      })),
    );
    expect(parseCpuid("")).toEqual([]);
  });
});
