import { describe, expect, it } from "vitest";
import { printable, renderTable } from "./display.js";

describe("printable", () => {
  it.each([
    ["\u001b]0;owned\u0007", "\\x1b]0;owned\\x07"],
    ["\u001b[2J\u001b[H", "\\x1b[2J\\x1b[H"],
    ["\u001b]52;c;ZXZpbA==\u001b\\", "\\x1b]52;c;ZXZpbA==\\x1b\\"],
    ["web-1\nagt_forged  web-2  online", "web-1\\nagt_forged  web-2  online"],
    ["a\rb\tc\u0000d\u007fe", "a\\rb\\tc\\x00d\\x7fe"],
    ["\u009b31m", "\\x9b31m"],
    ["admin\u202egnp.exe", "admin\\u202egnp.exe"],
    ["\u2066x\u2069 \u200e\u200f\u061c", "\\u2066x\\u2069 \\u200e\\u200f\\u061c"],
    ["web\u200b-1\u200d\ufeff", "web\\u200b-1\\u200d\\ufeff"],
    ["line\u2028para\u2029", "line\\u2028para\\u2029"],
    ["tag\u{e0041}", "tag\\u{e0041}"],
  ])("escapes %j visibly", (raw, shown) => {
    expect(printable(raw)).toBe(shown);
  });

  it("keeps printable text, Unicode and backslashes as they are", () => {
    for (const text of ["select 1", "C:\\Users\\x", "héllo wörld", "日本語", "emoji 🙂", "tab-free"]) expect(printable(text)).toBe(text);
  });
});

describe("renderTable", () => {
  it("escapes headers and cells, so no cell adds a line or moves the cursor", () => {
    const out = renderTable(["ID", "HOST\u001b[2J"], [["agt_1", "web-1\nagt_2  forged"], ["agt_3", "\u202eok"]]);
    expect(out.split("\n")).toHaveLength(4);
    expect(out).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f\u202e]/);
    expect(out).toContain("web-1\\nagt_2  forged");
    expect(out).toContain("HOST\\x1b[2J");
  });
});
