import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Validator } from "@seriousme/openapi-schema-validator";
import { describe, expect, it } from "vitest";
import { OPENAPI_PATH, openApiDocument, REST_OPERATIONS } from "../packages/protocol/dist/index.js";
import { routeTable } from "../packages/hub/src/api/route-table.js";
import type { ApiServices } from "../packages/hub/src/api/services.js";
import { Contract } from "./fixtures/contract.js";
import { useSharedHub } from "./fixtures/hub-process.js";

const root = join(import.meta.dirname, "..");
const DOC = "docs/openapi.json";
const TYPES = "packages/cli/src/api-types.ts";
const generated = `${JSON.stringify(openApiDocument(), null, 2)}\n`;

/** The hub's routes as `METHOD path scope` (building them only reads the config, so none is needed). */
function hubRoutes(): string[] {
  const services = { config: { tlsCert: undefined } } as unknown as ApiServices;
  return routeTable(services)
    .map((r) => `${r.method} ${r.path} ${r.scope ?? "public"}`)
    .sort();
}

describe("the OpenAPI description", () => {
  it("describes every route of the hub, with its scope, and nothing the hub does not serve", () => {
    const described = REST_OPERATIONS.map((op) => `${op.method} ${op.path} ${op.scope ?? "public"}`).sort();
    const routes = hubRoutes();
    expect(routes.filter((r) => !described.includes(r)), "routes without a description").toEqual([]);
    expect(described.filter((d) => !routes.includes(d)), "descriptions without a route").toEqual([]);
  });

  it("gives every operation a unique id, a summary, a success answer and the error answers of its scope", () => {
    const doc = openApiDocument();
    const ids = new Set<string>();
    for (const [path, item] of Object.entries<Record<string, any>>(doc.paths as never)) {
      for (const [method, op] of Object.entries<any>(item)) {
        expect(ids.has(op.operationId), `${method} ${path}: duplicate operationId`).toBe(false);
        ids.add(op.operationId);
        expect(op.summary, `${method} ${path}`).toBeTruthy();
        const statuses = Object.keys(op.responses).map(Number);
        expect(statuses.some((s) => s >= 200 && s < 300), `${method} ${path}: a success answer`).toBe(true);
        if (op.security.length > 0) expect(statuses, `${method} ${path}`).toEqual(expect.arrayContaining([401, 403]));
        for (const s of statuses.filter((s) => s >= 400)) {
          expect(op.responses[s].content["application/json"]["x-error-codes"].length, `${method} ${path} ${s}: codes`).toBeGreaterThan(0);
        }
      }
    }
    expect(ids.size).toBe(REST_OPERATIONS.length);
  });

  it("is a valid OpenAPI 3.1 document", async () => {
    const result = await new Validator().validate(JSON.parse(generated));
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
  });

  it("compiles into JSON Schema 2020-12 validators for every answer (the contract the end-to-end tests check)", () => {
    const contract = new Contract(JSON.parse(generated));
    expect(contract.operation("GET", "/api/v1/agents/agt_1")).toBeDefined();
    expect(contract.check("GET", "/api/v1/agents", 200, "application/json", { agents: [] })).toBeUndefined();
    // An extra field, a wrong type, an undescribed status, an unknown route: each one is named.
    expect(contract.check("GET", "/api/v1/agents", 200, "application/json", { agents: [], more: 1 })).toMatch(/does not match/);
    expect(contract.check("GET", "/healthz", 200, "application/json", { status: "ok", hubId: 1 })).toMatch(/does not match/);
    expect(contract.check("GET", "/healthz", 418, "application/json", { error: { code: "internal", message: "x" } })).toMatch(/does not describe status 418/);
    expect(contract.check("GET", "/api/v1/nope", 200, "application/json", {})).toMatch(/no operation/);
    expect(contract.check("GET", "/api/v1/nope", 404, "application/json", { error: { code: "not_found", message: "no route" } })).toBeUndefined();
    expect(contract.check("DELETE", "/api/v1/tokens/tok_1", 204, null, undefined)).toBeUndefined();
  });

  it("is what the build wrote to docs/openapi.json and to the CLI's client types, and both are committed as generated", () => {
    expect(readFileSync(join(root, DOC), "utf8"), `${DOC} is stale: run pnpm build`).toBe(generated);
    // Regenerates both in memory and exits 1 when a file on disk differs.
    execFileSync("node", ["scripts/gen-openapi.mjs", "--check"], { cwd: root, stdio: "pipe" });
    // `pnpm build` rewrites the files before the tests run: the committed copies are what must not be stale.
    for (const file of [DOC, TYPES]) {
      const committed = execFileSync("git", ["show", `HEAD:${file}`], { cwd: root, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
      expect(committed === readFileSync(join(root, file), "utf8"), `the committed ${file} is stale: run pnpm build and commit it`).toBe(true);
    }
  });

  describe(`GET ${OPENAPI_PATH}`, () => {
    const shared = useSharedHub();

    it("serves the description without a token", async () => {
      const res = await shared().api.get(OPENAPI_PATH, { token: null });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect(res.text).toBe(generated);
    });
  });
});
