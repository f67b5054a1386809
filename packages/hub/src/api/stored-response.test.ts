import { describe, expect, it } from "vitest";
import { canonicalJson, isFinalResponse, openResponse, requestFingerprint, sealResponse, type StoredResponse } from "./stored-response.js";

const response = (status: number, body: unknown = {}): StoredResponse => ({ status, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });

describe("stored responses", () => {
  it("writes canonical JSON: keys sorted at every depth, arrays in order", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
    const raw = Buffer.from("x");
    expect(requestFingerprint("POST", "/p", raw, { a: 1, b: 2 })).toBe(requestFingerprint("POST", "/p", raw, { b: 2, a: 1 }));
    expect(requestFingerprint("POST", "/p", raw, { a: 1 })).not.toBe(requestFingerprint("POST", "/q", raw, { a: 1 }));
  });

  it("opens a sealed response only with the same secret and idempotency key", () => {
    const sealed = sealResponse(response(201, { token: "tok_x.s3cret" }), "secret-a", "key-1");
    expect(sealed).not.toContain("s3cret");
    expect(openResponse(sealed, "secret-a", "key-1")).toEqual(response(201, { token: "tok_x.s3cret" }));
    expect(openResponse(sealed, "secret-b", "key-1")).toBeUndefined();
    expect(openResponse(sealed, "secret-a", "key-2")).toBeUndefined();
    expect(openResponse(`${sealed.slice(0, -4)}AAAA`, "secret-a", "key-1")).toBeUndefined();
    expect(openResponse("garbage", "secret-a", "key-1")).toBeUndefined();
  });

  it("keeps final answers and not refusals or transient failures", () => {
    const final = [response(200), response(201), response(202), response(409, { error: { code: "agent_offline" } }), response(504), response(502, { error: { code: "query_failed" } })];
    const notFinal = [400, 401, 403, 404, 413, 415, 429, 500, 503].map((s) => response(s)).concat([response(502, { error: { code: "replica_unreachable" } }), response(502, { error: { code: "cancelled" } }), { status: 502, headers: {}, body: "<html>bad gateway</html>" }]);
    for (const r of final) expect(isFinalResponse(r), r.body).toBe(true);
    for (const r of notFinal) expect(isFinalResponse(r), `${r.status} ${r.body}`).toBe(false);
  });
});
