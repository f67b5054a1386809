import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { HubMetrics } from "../metrics.js";

/**
 * `/metrics` on a listener of its own, apart from the API port that agents and operators reach: what it
 * tells (fleet size, traffic, failures) is for the scraper alone, so it binds to loopback unless told
 * otherwise (`--metrics-host`, `--metrics-port`). It answers nothing else, and reads no body.
 */
export class MetricsListener {
  readonly #server: Server;

  constructor(
    metrics: HubMetrics,
    private readonly host: string,
    private readonly port: number,
  ) {
    this.#server = createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 30_000 }, (req, res) => {
      const path = (req.url ?? "/").split("?")[0];
      if (path !== "/metrics") return void res.writeHead(404, { "Content-Type": "text/plain" }).end("only /metrics is served here\n");
      if (req.method !== "GET" && req.method !== "HEAD") return void res.writeHead(405, { Allow: "GET, HEAD" }).end();
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { "Content-Type": metrics.registry.contentType }).end(req.method === "HEAD" ? undefined : text),
        () => res.writeHead(500).end(),
      );
    });
    this.#server.on("clientError", (_err, socket) => socket.destroy());
  }

  /** Starts listening; resolves with the bound address. */
  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(this.port, this.host, () => {
        this.#server.off("error", reject);
        resolve(this.#server.address() as AddressInfo);
      });
    });
  }

  /** Stops listening and cuts open scrapes (each is one short request). Idempotent. */
  close(): Promise<void> {
    if (!this.#server.listening) return Promise.resolve();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    return closed;
  }
}
