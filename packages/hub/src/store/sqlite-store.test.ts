import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { hashSecret } from "../security/credentials.js";
import { createToken } from "../security/tokens.js";
import { SqliteStore } from "./sqlite-store.js";
import { SQLITE_MIGRATIONS } from "./sqlite-migrations.js";
import { describeStoreContract } from "../../test/store-contract.js";

const dir = mkdtempSync(join(tmpdir(), "uplink-store-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

describeStoreContract("SqliteStore", async () => new SqliteStore(join(dir, `contract-${n++}.db`)));

describe("SqliteStore", () => {
  it("creates the file in WAL mode and records the migration version", async () => {
    const path = join(dir, "nested", "uplink.db");
    const store = new SqliteStore(path);
    await store.close();
    const db = new Database(path, { readonly: true });
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(db.pragma("user_version", { simple: true })).toBe(SQLITE_MIGRATIONS.length);
    db.close();
  });

  it("reopens an existing file without migrating twice", async () => {
    const path = join(dir, "reopen.db");
    const first = new SqliteStore(path);
    await first.createAgent({ id: "agt_x", secretHash: "11".repeat(32), hostname: "h", labels: {}, enrolledAt: 1 });
    await first.close();
    const second = new SqliteStore(path);
    expect((await second.findAgent("agt_x"))?.hostname).toBe("h");
    await second.close();
  });

  it("puts the agents revoked before revocations had an order in the order of their revocation times", async () => {
    const path = join(dir, "revocation-order.db");
    const version = SQLITE_MIGRATIONS.findIndex((m) => m.includes("revoked_seq"));
    const db = new Database(path);
    for (const migration of SQLITE_MIGRATIONS.slice(0, version)) db.exec(migration);
    db.pragma(`user_version = ${version}`);
    const insert = db.prepare(`INSERT INTO agents (id, secret_hash, hostname, enrolled_at, revoked_at) VALUES (?, 'ab', 'h', 1, ?)`);
    for (const [id, revokedAt] of [["agt_late", 30], ["agt_live", null], ["agt_early", 10], ["agt_mid", 20]] as const) insert.run(id, revokedAt);
    db.close();
    const store = new SqliteStore(path);
    const before = await store.revokedSince(0, 10);
    expect(before.agentIds).toEqual(["agt_early", "agt_mid", "agt_late"]);
    expect(await store.revocationCursor()).toBe(before.cursor);
    await store.revokeAgent("agt_live", 5);
    expect((await store.revokedSince(before.cursor, 10)).agentIds).toEqual(["agt_live"]);
    await store.close();
  });

  it("keeps only hashes of token secrets, never the secret", async () => {
    const path = join(dir, "secrets.db");
    const store = new SqliteStore(path);
    const { token } = await createToken(store, { kind: "api", scope: "admin", name: "ops" });
    const secret = token.slice(token.indexOf(".") + 1);
    const onDisk = () => Buffer.concat([readFileSync(path), readFileSync(`${path}-wal`)]);
    expect(onDisk().includes(secret)).toBe(false);
    expect(onDisk().includes(hashSecret(secret))).toBe(true);
    await store.close();
  });

  it("keeps its files 0600 in a 0700 directory it creates, and tightens files an older hub left open", async () => {
    const fresh = join(dir, "private", "data");
    const store = new SqliteStore(join(fresh, "uplink.db"));
    await store.createAgent({ id: "agt_p", secretHash: "22".repeat(32), hostname: "h", labels: {}, enrolledAt: 1 });
    const mode = (path: string) => statSync(path).mode & 0o777;
    expect(mode(fresh)).toBe(0o700);
    for (const file of ["uplink.db", "uplink.db-wal", "uplink.db-shm"]) expect([file, mode(join(fresh, file))]).toEqual([file, 0o600]);
    await store.close();

    const old = join(dir, "old.db");
    writeFileSync(old, "");
    chmodSync(old, 0o644);
    writeFileSync(`${old}-wal`, "");
    chmodSync(`${old}-wal`, 0o644);
    const reopened = new SqliteStore(old);
    expect([mode(old), mode(`${old}-wal`), mode(`${old}-shm`)]).toEqual([0o600, 0o600, 0o600]);
    await reopened.close();
  });
});
