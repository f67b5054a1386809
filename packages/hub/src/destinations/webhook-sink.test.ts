import { createHmac } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { deliveryKey, secretFingerprint, signBody, WebhookSink } from "./webhook-sink.js";

const event = { seq: 42, type: "schedule.result" as const, data: { scheduleId: "sch_1", rows: [{ a: "é" }] }, createdAt: 1 };

describe("WebhookSink", () => {
  const servers: Server[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      await new Promise((resolve) => s.close(resolve));
    }
  });
  async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
    const server = createServer(handler);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  }
  const sink = (url: string, timeoutMs = 5_000) => new WebhookSink({ destinationId: "dst_1", url, secret: "0123456789abcdef", timeoutMs });

  it("signs the exact body bytes it sends, with the event's stable Idempotency-Key", async () => {
    let seen: { body: Buffer; headers: Record<string, unknown> } | undefined;
    const url = await serve((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        seen = { body: Buffer.concat(chunks), headers: req.headers };
        res.writeHead(204).end();
      });
    });
    await sink(url).deliver([event], new AbortController().signal);
    expect(JSON.parse(seen!.body.toString("utf8"))).toEqual({ id: 42, type: "schedule.result", data: { ...event.data, at: "1970-01-01T00:00:00.001Z" } });
    expect(seen!.headers["uplink-signature"]).toBe(`sha256=${createHmac("sha256", "0123456789abcdef").update(seen!.body).digest("hex")}`);
    expect(seen!.headers["uplink-signature"]).toBe(signBody(seen!.body, "0123456789abcdef"));
    expect(seen!.headers["idempotency-key"]).toBe(deliveryKey("dst_1", 42));
    expect(seen!.headers["content-type"]).toBe("application/json");
  });

  it("fails on a non-2xx answer (a redirect is not followed) and when no answer comes within the timeout", async () => {
    const redirect = await serve((_req, res) => res.writeHead(302, { location: "http://127.0.0.1:9/" }).end());
    await expect(sink(redirect).deliver([event], new AbortController().signal)).rejects.toThrow("answered 302");
    const silent = await serve(() => undefined);
    await expect(sink(silent, 200).deliver([event], new AbortController().signal)).rejects.toThrow("no answer within 200 ms");
    const dropping = await serve((req) => req.socket.destroy());
    await expect(sink(dropping).deliver([event], new AbortController().signal)).rejects.toThrow(/^request failed: /);
  });

  it("shows a fingerprint of the secret, never the secret", () => {
    expect(secretFingerprint("0123456789abcdef")).toMatch(/^sha256:[0-9a-f]{16}$/);
    expect(secretFingerprint("0123456789abcdef")).not.toContain("0123456789abcdef");
  });
});
