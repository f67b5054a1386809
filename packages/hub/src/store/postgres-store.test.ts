import { randomBytes } from "node:crypto";
import { createServer, connect, type AddressInfo, type Server, type Socket } from "node:net";
import { Client } from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { createLogger } from "../logger.js";
import { HubMetrics } from "../metrics.js";
import { POSTGRES_MIGRATIONS } from "./postgres-migrations.js";
import { PostgresStore } from "./postgres-store.js";
import { Pruner } from "./pruner.js";
import { describeStoreContract } from "../../test/store-contract.js";

const url = process.env.UPLINK_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

/** Every store gets a schema of its own, so parallel runs and tests never see each other's rows. */
const schemas: string[] = [];
function freshSchema(): string {
  const schema = `uplink_test_${randomBytes(6).toString("hex")}`;
  schemas.push(schema);
  return schema;
}

/** A plain pg client with pg's default type parsing, for looking behind the store's back. */
async function withAdmin<T>(work: (admin: Client) => Promise<T>): Promise<T> {
  const admin = new Client({ connectionString: url });
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.end();
  }
}

afterAll(async () => {
  await withAdmin(async (admin) => {
    for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  });
});

describeStoreContract("PostgresStore", () => PostgresStore.open(url, { schema: freshSchema() }));

/** A TCP hop in front of the server that the test can cut, as a network partition would. */
async function startProxy(target: URL): Promise<{ url: string; cut: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((downstream) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    for (const s of [downstream, upstream]) {
      sockets.add(s);
      s.on("error", () => s.destroy());
      s.on("close", () => sockets.delete(s));
    }
    downstream.pipe(upstream).pipe(downstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const proxied = new URL(target);
  proxied.hostname = "127.0.0.1";
  proxied.port = String((server.address() as AddressInfo).port);
  return {
    url: proxied.href,
    cut: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("PostgresStore", () => {
  it("migrates exactly once when several replicas open the same schema at once", async () => {
    const schema = freshSchema();
    const replicas = await Promise.all([1, 2, 3, 4].map(() => PostgresStore.open(url, { schema, poolSize: 2 })));
    try {
      const versions = await withAdmin(async (admin) => (await admin.query(`SELECT version FROM ${schema}.schema_migrations ORDER BY version`)).rows);
      expect(versions.map((r) => r.version)).toEqual(POSTGRES_MIGRATIONS.map((_, i) => i + 1));
      await replicas[0]!.createAgent({ id: "agt_shared", secretHash: "aa".repeat(32), hostname: "h", labels: { env: "prod" }, enrolledAt: 1 });
      expect((await replicas[3]!.findAgent("agt_shared"))?.labels).toEqual({ env: "prod" });
    } finally {
      await Promise.all(replicas.map((r) => r.close()));
    }
  });

  it("takes the retention indexes an operator built beforehand (CONCURRENTLY) instead of failing the migration", async () => {
    const schema = freshSchema();
    await (await PostgresStore.open(url, { schema })).close();
    // As on a database one migration short of these indexes, whose operator built them concurrently.
    const version = POSTGRES_MIGRATIONS.findIndex((m) => m.includes("query_audit_single_age")) + 1;
    // The store runs from the highest recorded migration, so the later ones are undone too (7: revocation
    // order; 8: console sessions, health samples, the list's order; 9: destinations; 10: schedules and policies;
    // 11: the fan-out target page index, built beforehand too).
    expect(version).toBe(6);
    expect(POSTGRES_MIGRATIONS.length).toBe(11);
    await withAdmin(async (admin) => {
      await admin.query(`DROP INDEX ${schema}.query_audit_single_age, ${schema}.fanouts_age, ${schema}.query_audit_fanout_agent`);
      await admin.query(`DROP FUNCTION ${schema}.agents_revocation_seq() CASCADE`);
      await admin.query(`ALTER TABLE ${schema}.agents DROP COLUMN revoked_seq`);
      await admin.query(`DROP SEQUENCE ${schema}.agent_revocations`);
      await admin.query(`DROP TABLE ${schema}.sessions`);
      await admin.query(`DROP TABLE ${schema}.agent_health_samples`);
      await admin.query(`DROP INDEX ${schema}.agents_list_order`);
      await admin.query(`DROP TABLE ${schema}.destinations, ${schema}.destination_outbox`);
      for (const table of ["schedules", "schedule_agents", "schedule_runs", "policy_hosts", "policy_changes"]) await admin.query(`DROP TABLE ${schema}.${table}`);
      await admin.query(`DELETE FROM ${schema}.schema_migrations WHERE version >= $1`, [version]);
      await admin.query(`CREATE INDEX CONCURRENTLY query_audit_single_age ON ${schema}.query_audit (created_at, seq) WHERE fanout_id IS NULL`);
      await admin.query(`CREATE INDEX CONCURRENTLY fanouts_age ON ${schema}.fanouts (created_at, id COLLATE "C")`);
      await admin.query(`CREATE INDEX CONCURRENTLY query_audit_fanout_agent ON ${schema}.query_audit (fanout_id, agent_id COLLATE "C", status) WHERE fanout_id IS NOT NULL`);
    });
    await (await PostgresStore.open(url, { schema })).close();
    const versions = await withAdmin(async (admin) => (await admin.query(`SELECT version FROM ${schema}.schema_migrations ORDER BY version`)).rows);
    expect(versions.map((r) => r.version)).toEqual(POSTGRES_MIGRATIONS.map((_, i) => i + 1));
  });

  it("numbers a revocation written by hand (another session, another search_path) like the hub's, after those before it", async () => {
    const schema = freshSchema();
    const store = await PostgresStore.open(url, { schema });
    try {
      for (const id of ["agt_hub", "agt_hand"]) await store.createAgent({ id, secretHash: "aa".repeat(32), hostname: id, labels: {}, enrolledAt: 1 });
      await store.revokeAgent("agt_hub", 5);
      const seen = await store.revokedSince(0, 10);
      await withAdmin((admin) => admin.query(`UPDATE ${schema}.agents SET revoked_at = 1, status = 'offline' WHERE id = 'agt_hand'`));
      expect(await store.revokedSince(seen.cursor, 10)).toEqual({ agentIds: ["agt_hand"], cursor: seen.cursor + 1 });
    } finally {
      await store.close();
    }
  });

  it("keeps its tables in its own schema, not in public", async () => {
    const schema = freshSchema();
    await (await PostgresStore.open(url, { schema })).close();
    const tables = await withAdmin(async (admin) =>
      (await admin.query(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`, [schema])).rows,
    );
    expect(tables.map((r) => r.table_name)).toEqual([
      "agent_health_samples", "agents", "destination_outbox", "destinations", "events", "fanouts", "idempotency_keys", "policy_changes", "policy_hosts", "query_audit",
      "schedule_agents", "schedule_runs", "schedules", "schema_migrations", "sessions", "tokens",
    ]);
  });

  it("returns BIGINT columns as numbers, without changing pg's parsing for anyone else", async () => {
    const store = await PostgresStore.open(url, { schema: freshSchema() });
    try {
      const at = 1_760_000_000_123; // epoch ms, past 2^32
      await store.createToken({ id: "tok_t", kind: "api", scope: "admin", name: "n", secretHash: "ab", createdAt: at, expiresAt: at + 1, revokedAt: null, labels: null, maxUses: null, uses: 0 });
      await store.insertAudit({ correlationId: "c1", agentId: "agt", requester: "ops", sessionId: "s", requestId: null, collector: "host", query: "q", createdAt: at });
      const [event] = await store.appendEvents([{ type: "agent.connected", data: {}, createdAt: at }]);
      expect(await store.findToken("tok_t")).toMatchObject({ createdAt: at, expiresAt: at + 1 });
      const audit = await store.findAudit("c1");
      expect(audit?.createdAt).toBe(at);
      expect(typeof audit?.seq).toBe("number");
      expect(typeof event?.seq).toBe("number");
      expect((await store.listEvents(0, 1))[0]).toEqual(event);
    } finally {
      await store.close();
    }
    const plain = await withAdmin(async (admin) => (await admin.query(`SELECT 1::bigint AS n`)).rows[0]);
    expect(plain).toEqual({ n: "1" });
  });

  it("serialises event batches from two replicas: each gets consecutive seqs, all stored in seq order", async () => {
    const schema = freshSchema();
    const [a, b] = await Promise.all([PostgresStore.open(url, { schema }), PostgresStore.open(url, { schema })]);
    try {
      const batch = (who: string, round: number) => Array.from({ length: 20 }, (_, i) => ({ type: "query.done" as const, data: { who, round, i }, createdAt: i }));
      const appended = await Promise.all([0, 1, 2, 3, 4].flatMap((round) => [a!.appendEvents(batch("a", round)), b!.appendEvents(batch("b", round))]));
      for (const events of appended) {
        expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => events[0]!.seq + i));
        expect(events.map((e) => e.data.i)).toEqual(events.map((_, i) => i));
      }
      const stored = await b!.listEvents(0, 1000);
      expect(stored).toEqual(appended.flat().sort((x, y) => x.seq - y.seq));
    } finally {
      await Promise.all([a!.close(), b!.close()]);
    }
  });

  it("prunes to exactly the newest events even when the sequence has gaps", async () => {
    const schema = freshSchema();
    const store = await PostgresStore.open(url, { schema });
    try {
      const event = (i: number) => ({ type: "agent.connected" as const, data: { i }, createdAt: i });
      await store.appendEvents([1, 2, 3].map(event));
      await withAdmin((admin) => admin.query(`SELECT setval(pg_get_serial_sequence('${schema}.events', 'seq'), 100)`));
      await store.appendEvents([4, 5].map(event));
      const off = { maxAgeMs: 0, maxCount: 0 };
      const settings = { audit: off, fanouts: off, events: { maxAgeMs: 0, maxCount: 3 }, healthSamplesMaxAgeMs: 0, intervalMs: 60_000, batchRows: 10 };
      expect((await new Pruner({ store, metrics: new HubMetrics(), log: createLogger("silent"), settings }).prune()).events).toBe(2);
      expect((await store.listEvents(0, 10)).map((e) => [e.seq, e.data.i])).toEqual([[3, 3], [101, 4], [102, 5]]);
    } finally {
      await store.close();
    }
  });

  it("stores an audit result holding a NUL character as written", async () => {
    const store = await PostgresStore.open(url, { schema: freshSchema() });
    try {
      await store.insertAudit({ correlationId: "c0", agentId: "agt", requester: "ops", sessionId: "s", requestId: null, collector: "host", query: "q", createdAt: 1 });
      const result = { rows: [["a\u0000b"]] };
      await store.finishAudit("c0", { status: "ok", finishedAt: 2, durationMs: 1, errorCode: null, errorMessage: null, resultJson: JSON.stringify(result), resultTruncated: false });
      expect((await store.findAudit("c0"))?.result).toEqual(result);
    } finally {
      await store.close();
    }
  });

  it("refuses a patch field outside the whitelist and a schema name that is not a plain identifier", async () => {
    const store = await PostgresStore.open(url, { schema: freshSchema() });
    try {
      await store.createAgent({ id: "agt_p", secretHash: "bb".repeat(32), hostname: "h", labels: {}, enrolledAt: 1 });
      await expect(store.updateAgent("agt_p", { ["hostname = 'x', secret_hash" as "hostname"]: "y" })).rejects.toThrow(RangeError);
      expect((await store.findAgent("agt_p"))?.hostname).toBe("h");
    } finally {
      await store.close();
    }
    await expect(PostgresStore.open(url, { schema: "public; DROP TABLE x" })).rejects.toThrow(RangeError);
  });

  it("is not ready after close, and closes idempotently", async () => {
    const store = await PostgresStore.open(url, { schema: freshSchema() });
    await Promise.all([store.close(), store.close()]);
    await store.close();
    expect(await store.ready()).toBe(false);
  });

  it("reports not ready, without throwing, when the server becomes unreachable", async () => {
    const proxy = await startProxy(new URL(url));
    const store = await PostgresStore.open(proxy.url, { schema: freshSchema(), connectTimeoutMs: 500 });
    try {
      expect(await store.ready()).toBe(true);
      await proxy.cut();
      const started = Date.now();
      expect(await store.ready()).toBe(false);
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await store.close();
    }
  });

  it("fails to open, instead of hanging, when nothing listens at the URL", async () => {
    const dead = new URL(url);
    dead.hostname = "127.0.0.1";
    dead.port = String(await closedPort());
    await expect(PostgresStore.open(dead.href, { connectTimeoutMs: 500 })).rejects.toThrow();
  });
});
