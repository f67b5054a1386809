import { describe, expect, it } from "vitest";
import { createLogger } from "./logger.js";

/** A logger at debug level writing into an array of parsed lines. */
function capture(): { log: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger("debug", { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, lines };
}

describe("createLogger", () => {
  it("redacts secrets logged as fields", () => {
    const { log, lines } = capture();
    log.info({ token: "t-secret", agentKey: "k-secret", secret: "s-secret", authorization: "Bearer a-secret", cookie: "c-secret", csrfToken: "x-secret", agentId: "a1" }, "line");
    expect(lines[0]).toMatchObject({ token: "[redacted]", agentKey: "[redacted]", secret: "[redacted]", authorization: "[redacted]", cookie: "[redacted]", csrfToken: "[redacted]", agentId: "a1", msg: "line" });
  });

  it("redacts secrets one level down (a body, a headers object, a request's headers) and leaves the caller's object alone", () => {
    const { log, lines } = capture();
    const body = { token: "t-secret", hostname: "h" };
    const headers = { "set-cookie": "sc-secret", "x-csrf-token": "x-secret", authorization: "Bearer a-secret", accept: "*/*" };
    log.warn({ body, headers, req: { method: "GET", headers: { authorization: "Bearer r-secret", cookie: "rc-secret", host: "hub" } } }, "line");
    expect(lines[0]).toMatchObject({
      body: { token: "[redacted]", hostname: "h" },
      headers: { "set-cookie": "[redacted]", "x-csrf-token": "[redacted]", authorization: "[redacted]", accept: "*/*" },
      req: { method: "GET", headers: { authorization: "[redacted]", cookie: "[redacted]", host: "hub" } },
    });
    expect(body.token).toBe("t-secret");
    expect(headers["set-cookie"]).toBe("sc-secret");
  });

  it("redacts an error's secret fields and still logs its message and stack", () => {
    const { log, lines } = capture();
    log.error({ err: Object.assign(new Error("enrollment failed"), { token: "t-secret", code: "unauthorized" }) }, "line");
    expect(lines[0]!.err).toMatchObject({ type: "Error", message: "enrollment failed", token: "[redacted]", code: "unauthorized" });
    expect(String((lines[0]!.err as { stack: string }).stack)).toContain("enrollment failed");
  });

  it("redacts secrets in a child logger's bindings", () => {
    const { log, lines } = capture();
    log.child({ session: { csrfToken: "x-secret", id: "ses_1" }, cookie: "c-secret" }).info("line");
    expect(lines[0]).toMatchObject({ session: { csrfToken: "[redacted]", id: "ses_1" }, cookie: "[redacted]" });
  });

  it("logs a line without secrets as given", () => {
    const { log, lines } = capture();
    log.info({ correlationId: "c1", agentId: "a1", durationMs: 1.5, rows: 1, labels: { env: "prod" } }, "query answered");
    expect(lines[0]).toMatchObject({ level: 30, correlationId: "c1", agentId: "a1", durationMs: 1.5, rows: 1, labels: { env: "prod" }, msg: "query answered" });
    expect(JSON.stringify(lines[0])).not.toContain("redacted");
  });
});
