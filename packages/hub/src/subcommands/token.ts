import { hostname } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import { Labels } from "@uplink/protocol";
import { DEFAULT_DATA_DIR, DEFAULT_PORT, ConfigError, enrollTokenDefaults } from "../config.js";
import { installLine } from "../downloads/install-line.js";
import { NotFoundError } from "../errors.js";
import { createToken, publicToken, type PublicToken } from "../security/tokens.js";
import { SqliteStore } from "../store/sqlite-store.js";
import { SCOPES, type Store } from "../store/store.js";
import { printable, renderTable } from "@uplink/protocol";

const CreateOptions = z.object({
  kind: z.enum(["api", "enroll"]),
  scope: z.enum(SCOPES).optional(),
  name: z.string().trim().min(1, "--name is required").max(128),
  ttl: z.coerce.number().int().positive().optional(),
  label: z
    .array(z.string().regex(/^[^=]+=.*$/, "labels are k=v"))
    .transform((kvs) => Object.fromEntries(kvs.map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)])))
    .pipe(Labels)
    .optional(),
  maxUses: z.coerce.number().int().positive().optional(),
});

/** Where the token commands find the store: the cluster's PostgreSQL when named, else the data dir. */
interface StoreLocation {
  dataDir: string;
  databaseUrl: string | undefined;
  databaseSchema: string;
}

/**
 * `uplink-hub token create|list|revoke`: the bootstrap path of a new hub. Writes straight to the
 * store: the embedded SQLite file in `--data-dir` (WAL mode, safe beside a running hub), or the
 * cluster's PostgreSQL with `--database-url`.
 */
export function registerToken(program: Command): void {
  const token = program.command("token").description("manage API and enrollment tokens in the hub's store");
  const where = (cmd: Command): StoreLocation => {
    const o = cmd.optsWithGlobals<{ dataDir?: string; databaseUrl?: string; databaseSchema?: string }>();
    const env = (name: string) => (process.env[name] === "" ? undefined : process.env[name]);
    return {
      dataDir: o.dataDir ?? env("UPLINK_DATA_DIR") ?? DEFAULT_DATA_DIR,
      databaseUrl: o.databaseUrl ?? env("UPLINK_DATABASE_URL"),
      databaseSchema: o.databaseSchema ?? env("UPLINK_DATABASE_SCHEMA") ?? "public",
    };
  };
  const storeOptions = (c: Command): Command =>
    c
      .option("--data-dir <dir>", "directory of the hub's embedded store (env UPLINK_DATA_DIR)")
      .option("--database-url <url>", "cluster mode: the PostgreSQL store instead (env UPLINK_DATABASE_URL)")
      .option("--database-schema <name>", "cluster mode: its schema (env UPLINK_DATABASE_SCHEMA)");

  storeOptions(token.command("create"))
    .description("create a token; its secret is printed once, as the last line")
    .requiredOption("--kind <kind>", "api or enroll")
    .option("--scope <scope>", "read, query or admin (api tokens; default read)")
    .requiredOption("--name <name>", "who or what the token is for")
    .option("--ttl <seconds>", "expire after this many seconds (enrollment tokens: default UPLINK_ENROLL_TOKEN_TTL, 24 h)")
    .option("--label <k=v>", "enrollment tokens: a label of every agent enrolled with it (repeatable)", (v: string, all: string[] = []) => [...all, v])
    .option("--max-uses <n>", "enrollment tokens: how many agents it may enroll (default UPLINK_ENROLL_TOKEN_USES, unlimited)")
    .option("--json", "print a JSON object with the token")
    .option("--public-url <url>", "enroll tokens: the hub's URL as hosts reach it, for the install line (env UPLINK_PUBLIC_URL)")
    .action(async (opts: Record<string, unknown>, cmd: Command) => {
      const parsed = CreateOptions.safeParse(opts);
      if (!parsed.success) throw new ConfigError(`invalid --${String(parsed.error.issues[0]!.path[0]).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${parsed.error.issues[0]!.message}`);
      const o = parsed.data;
      if (o.kind === "enroll" && o.scope !== undefined) throw new ConfigError("invalid --scope: enrollment tokens take no scope");
      if (o.kind === "api" && (o.label !== undefined || o.maxUses !== undefined)) throw new ConfigError("invalid --label / --max-uses: only enrollment tokens take them");
      const defaults = o.kind === "enroll" ? enrollTokenDefaults(process.env) : { ttlMs: undefined, maxUses: undefined };
      const ttlSeconds = o.ttl ?? (defaults.ttlMs === undefined ? undefined : Math.ceil(defaults.ttlMs / 1000));
      const created = await withStore(where(cmd), (store) =>
        createToken(store, { kind: o.kind, scope: o.kind === "api" ? (o.scope ?? "read") : null, name: o.name, ttlSeconds, labels: o.label, maxUses: o.maxUses ?? defaults.maxUses }),
      );
      const line = o.kind === "enroll" ? installLine(hubUrlFor(opts.publicUrl), created.token) : undefined;
      if (opts.json) process.stdout.write(`${JSON.stringify({ ...created.record, token: created.token, ...(line === undefined ? {} : { installLine: line }) })}\n`);
      else {
        const install = line === undefined ? "" : `install a host (as root, or with sudo):\n  ${line}\n`;
        process.stdout.write(`created ${created.record.kind} token ${created.record.id} (${created.record.scope ?? "enroll"}) "${printable(created.record.name)}"\n${install}${created.token}\n`);
      }
    });

  storeOptions(token.command("list"))
    .description("list tokens (never their secrets)")
    .option("--json", "print JSON")
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const tokens = await withStore(where(cmd), async (store) => (await store.listTokens()).map(publicToken));
      process.stdout.write(opts.json ? `${JSON.stringify({ tokens })}\n` : renderTokens(tokens));
    });

  storeOptions(token.command("revoke <id>"))
    .description("revoke a token")
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      // Its console sessions go with it (a running hub also refuses them, within its token cache's 5 s).
      const revoked = await withStore(where(cmd), async (store) => (await store.revokeToken(id, Date.now())) && (await store.deleteTokenSessions(id)) >= 0);
      if (!revoked) throw new NotFoundError(`no live token ${id}`);
      process.stdout.write(`revoked ${id}\n`);
    });
}

/** The hub URL of an install line: `--public-url`, `UPLINK_PUBLIC_URL`, else this machine's name and port. */
function hubUrlFor(flag: unknown): string {
  const given = typeof flag === "string" && flag !== "" ? flag : process.env.UPLINK_PUBLIC_URL;
  if (given !== undefined && given !== "") {
    if (!URL.canParse(given) || !/^https?:$/.test(new URL(given).protocol)) throw new ConfigError("invalid --public-url / UPLINK_PUBLIC_URL: expected the hub's http(s):// URL");
    return given.replace(/\/+$/, "");
  }
  return `http://${hostname()}:${process.env.UPLINK_PORT || DEFAULT_PORT}`;
}

async function withStore<T>(at: StoreLocation, work: (store: Store) => Promise<T>): Promise<T> {
  const store: Store =
    at.databaseUrl === undefined
      ? new SqliteStore(join(at.dataDir, "uplink.db"))
      : await (await import("../store/postgres-store.js")).PostgresStore.open(at.databaseUrl, { schema: at.databaseSchema });
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

function renderTokens(tokens: PublicToken[]): string {
  const iso = (ms: number | null) => (ms === null ? "" : new Date(ms).toISOString());
  return renderTable(
    ["ID", "KIND", "SCOPE", "NAME", "CREATED", "EXPIRES", "REVOKED", "USES", "LABELS"],
    tokens.map((t) => [
      t.id, t.kind, t.scope ?? "", t.name, iso(t.createdAt), iso(t.expiresAt), iso(t.revokedAt),
      t.kind === "enroll" ? `${t.uses}/${t.maxUses ?? "∞"}` : "",
      Object.entries(t.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(","),
    ]),
  );
}
