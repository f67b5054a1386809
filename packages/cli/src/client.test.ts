import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ApiClient, ApiError, type StreamEvent } from "./client.js";

/** A stand-in for a hub's result stream: `done` has id 5; resuming after it is answered 204. */
function resultStream(seen: IncomingHttpHeaders[]): Server {
  return createServer((req, res) => {
    seen.push(req.headers);
    if (req.headers["last-event-id"] === "5") {
      res.writeHead(204).end();
      return;
    }
    res.writeHead(200, { "Content-Type": "text/event-stream" });
    // One result, then the connection breaks before `done`.
    res.write("event: result\nid: 4\ndata: {}\n\n", () => setTimeout(() => res.socket?.destroy(), 20));
  });
}

describe("ApiClient.stream", () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server === undefined ? resolve() : server.close(() => resolve()))));

  it("hands each event (with its id) over as it arrives, rejects when the stream breaks, and ends on a 204", async () => {
    const seen: IncomingHttpHeaders[] = [];
    server = resultStream(seen);
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    const client = new ApiClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, "tok");

    const events: StreamEvent[] = [];
    const broken = await client.stream("/s", { lastEventId: "3" }, (e) => events.push(e)).catch((err: unknown) => err);
    expect(broken).toBeInstanceOf(ApiError);
    expect((broken as ApiError).status).toBe(0);
    expect(events).toEqual([{ event: "result", id: "4", data: "{}" }]);
    expect(seen[0]).toMatchObject({ "last-event-id": "3", authorization: "Bearer tok", accept: "text/event-stream" });

    // Resuming after the last event of a finished stream: the hub says 204, which is the end, not an error.
    const after = await client.stream("/s", { lastEventId: "5" }, (e) => events.push(e));
    expect(after).toBe("5");
    expect(events).toHaveLength(1);
  });
});
