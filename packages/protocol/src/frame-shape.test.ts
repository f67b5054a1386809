import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_FRAME_DEPTH, MAX_FRAME_KEYS } from "./constants.js";
import { checkFrameShape } from "./frame-shape.js";
import { parseAgentToHub } from "./frames.js";

const nest = (depth: number, inner = "1") => "[".repeat(depth) + inner + "]".repeat(depth);

const tooDeep = (text: string, depth?: number) => checkFrameShape(text, depth)?.fields;

describe("checkFrameShape", () => {
  it("lets frames within the bounds through, whatever their strings hold", () => {
    expect(checkFrameShape(JSON.stringify({ a: JSON.parse(nest(MAX_FRAME_DEPTH - 1)) }))).toBeUndefined();
    expect(checkFrameShape(JSON.stringify({ s: "[[[[".repeat(100), t: '\\"[[[[[[', u: "a:b:c:".repeat(MAX_FRAME_KEYS) }))).toBeUndefined();
    const rows = Array.from({ length: 10_000 }, (_, i) => [i, `p:${i}`, null]);
    expect(checkFrameShape(JSON.stringify({ type: "session_response", result: { columns: ["a", "b", "c"], rows } }))).toBeUndefined();
  });

  it("refuses a frame with more object keys than MAX_FRAME_KEYS, keeping its ids", () => {
    const keys = Array.from({ length: MAX_FRAME_KEYS + 1 }, (_, i) => `"k${i}":1`).join(",");
    expect(checkFrameShape(`{"type":"session_response","correlationId":"c","result":{${keys}}}`)).toEqual({
      error: `has ${MAX_FRAME_KEYS + 4} object keys, more than ${MAX_FRAME_KEYS}`,
      fields: { type: "session_response", correlationId: "c" },
    });
  });

  it("refuses deeper frames and keeps their top-level ids, before and after the deep part", () => {
    const text = `{"type":"session_response","sessionId":"s\\u0031","x":{"correlationId":"inner"},"deep":${nest(100_000)},"correlationId":"c-1","ok":true}`;
    expect(tooDeep(text)).toEqual({ type: "session_response", sessionId: "s1", correlationId: "c-1" });
  });

  it("agrees with JSON.parse on the depth of any JSON value (property)", () => {
    const depthOf = (v: unknown): number =>
      typeof v === "object" && v !== null ? 1 + Math.max(0, ...Object.values(v).map(depthOf)) : 0;
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 40 }), (value) => {
        const text = JSON.stringify(value);
        expect(tooDeep(text, 8) !== undefined).toBe(depthOf(value) > 8);
      }),
      { numRuns: 500 },
    );
  });
});

describe("parseAgentToHub on a too deep frame", () => {
  it("refuses it unparsed, naming the command it answers", () => {
    const parsed = parseAgentToHub(`{"type":"session_response","sessionId":"s","correlationId":"c","ok":true,"result":${nest(1_000_000)}}`);
    expect(parsed).toEqual({ ok: false, error: `frame nests deeper than ${MAX_FRAME_DEPTH} levels`, raw: { type: "session_response", sessionId: "s", correlationId: "c" } });
  });
});
