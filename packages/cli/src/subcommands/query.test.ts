import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { readQuerySource } from "./query.js";

describe("readQuerySource", () => {
  it("takes the last positional argument as the SQL when no file is given", async () => {
    expect(await readQuerySource(["agt_1", "select 1"], undefined)).toEqual({ sql: "select 1", rest: ["agt_1"] });
  });

  it("reads stdin for -f -, keeping a leading -- comment", async () => {
    const stdin = Readable.from([Buffer.from("-- why\n"), Buffer.from("select 2")]);
    expect(await readQuerySource(["agt_1"], "-", stdin)).toEqual({ sql: "-- why\nselect 2", rest: ["agt_1"] });
  });
});
