import { describe, expect, it } from "vitest";
import { toCsv, toJson } from "./table-text.js";

describe("toCsv", () => {
  it("quotes fields with commas, quotes and line breaks, and writes null as empty", () => {
    const csv = toCsv({ columns: ["a", "b"], rows: [["x,y", 'say "hi"'], ["line\nbreak", null], [1.5, true]] });
    expect(csv).toBe('a,b\r\n"x,y","say ""hi"""\r\n"line\nbreak",\r\n1.5,true\r\n');
  });

  it("defuses texts a spreadsheet would read as formulas, and leaves negative numbers alone", () => {
    expect(toCsv({ columns: ["c"], rows: [["=HYPERLINK(\"x\")"], ["+1"], ["-2"], ["@sum"], ["plain"], [-2]] })).toBe('c\r\n"\'=HYPERLINK(""x"")"\r\n\'+1\r\n\'-2\r\n\'@sum\r\nplain\r\n-2\r\n');
  });
});

describe("toJson", () => {
  it("writes one object per row keyed by column", () => {
    expect(JSON.parse(toJson({ columns: ["agent", "n"], rows: [["h1", 1], ["h2", null]] }))).toEqual([{ agent: "h1", n: 1 }, { agent: "h2", n: null }]);
  });
});
