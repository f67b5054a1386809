import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { BACKGROUND_SLICE_MS, GroupCommit } from "./sqlite-group-commit.js";

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("GroupCommit", () => {
  let db: Database.Database;
  const setup = (): GroupCommit => {
    db = new Database(":memory:");
    db.exec("CREATE TABLE t (v TEXT)");
    return new GroupCommit(db);
  };
  const insert = (v: string) => () => db.prepare("INSERT INTO t (v) VALUES (?)").run(v).changes;
  const rows = () => (db.prepare("SELECT v FROM t ORDER BY rowid").all() as { v: string }[]).map((r) => r.v);
  afterEach(() => db?.close());

  it("commits a turn's writes at its end, and background writes apart, later, with those queued meanwhile", async () => {
    const commits = setup();
    const settled: string[] = [];
    const background = commits.write(insert("b1"), true).then(() => settled.push("b1"));
    const live = commits.write(insert("l1")).then(() => settled.push("l1"));
    await live;
    expect(rows()).toEqual(["l1"]);
    const background2 = commits.write(insert("b2"), true).then(() => settled.push("b2"));
    await Promise.all([background, background2]);
    expect(settled).toEqual(["l1", "b1", "b2"]);
    expect(rows()).toEqual(["l1", "b1", "b2"]);
  });

  it("commits a background backlog in slices, the loop turning in between, every write settled in order", async () => {
    const commits = setup();
    const slow = (v: string) => () => {
      const end = performance.now() + BACKGROUND_SLICE_MS;
      while (performance.now() < end);
      return insert(v)();
    };
    const order: string[] = [];
    const writes = ["a", "b", "c"].map((v) => commits.write(slow(v), true).then(() => order.push(v)));
    await writes[0];
    // Each write spends a whole slice: the first is committed alone, before the others ran.
    expect(rows()).toEqual(["a"]);
    await turn();
    await Promise.all(writes);
    expect(order).toEqual(["a", "b", "c"]);
    expect(rows()).toEqual(["a", "b", "c"]);
  });

  it("commits background writes at once on commitNow and on close, and refuses writes after close", async () => {
    const commits = setup();
    const background = commits.write(insert("b"), true);
    commits.commitNow();
    expect(rows()).toEqual(["b"]);
    await background;
    const late = commits.write(insert("c"), true);
    commits.close();
    await late;
    expect(rows()).toEqual(["b", "c"]);
    await expect(commits.write(insert("d"), true)).rejects.toThrow("closed");
  });
});
