import { randomBytes } from "node:crypto";
import { stat } from "node:fs/promises";
import { dirname } from "node:path";
import { DestinationRequest, type DestinationList, type DestinationView } from "@uplink/protocol";
import { secretFingerprint } from "../../destinations/webhook-sink.js";
import { BadRequestError, NotFoundError } from "../../errors.js";
import type { DestinationRecord } from "../../store/store.js";
import { readJson, sendJson } from "../http.js";
import type { Route } from "../route.js";
import { MAX_BODY_BYTES, type ApiServices } from "../services.js";

/** A destination as the API shows it: never the webhook's secret. */
export function destinationView(d: DestinationRecord): DestinationView {
  return {
    id: d.id,
    kind: d.kind,
    url: d.url,
    secretFingerprint: d.secret === null ? null : secretFingerprint(d.secret),
    path: d.path,
    createdAt: new Date(d.createdAt).toISOString(),
    deliveredSeq: d.cursor,
    lastError: d.lastError,
    lastErrorAt: d.lastErrorAt === null ? null : new Date(d.lastErrorAt).toISOString(),
  };
}

/** A file destination's directory must exist: said now, not found out at the first event. */
async function checkDirectory(path: string): Promise<void> {
  const dir = dirname(path);
  const info = await stat(dir).catch(() => undefined);
  if (info === undefined || !info.isDirectory()) throw new BadRequestError(`path: the directory ${dir} does not exist on the hub`);
  const file = await stat(path).catch(() => undefined);
  if (file !== undefined && !file.isFile()) throw new BadRequestError(`path: ${path} exists and is not a regular file`);
}

/** `/api/v1/destinations`: where schedule results and policy changes are pushed (destinations/). */
export function destinationRoutes(s: ApiServices): Route[] {
  return [
    {
      method: "POST",
      path: "/api/v1/destinations",
      scope: "admin",
      async handle({ req, res, principal, log }) {
        const body = await readJson(req, DestinationRequest, MAX_BODY_BYTES);
        if (body.kind === "file") await checkDirectory(body.path);
        const record = await s.store.createDestination({
          id: `dst_${randomBytes(8).toString("hex")}`,
          kind: body.kind,
          url: body.kind === "webhook" ? body.url : null,
          secret: body.kind === "webhook" ? body.secret : null,
          path: body.kind === "file" ? body.path : null,
          createdAt: Date.now(),
        });
        log.info({ destinationId: record.id, kind: record.kind, by: principal?.name }, "destination created");
        sendJson(res, 201, destinationView(record) satisfies DestinationView, { Location: `/api/v1/destinations/${record.id}` });
      },
    },
    {
      method: "GET",
      path: "/api/v1/destinations",
      scope: "admin",
      async handle({ res }) {
        sendJson(res, 200, { destinations: (await s.store.listDestinations()).map(destinationView) } satisfies DestinationList);
      },
    },
    {
      method: "GET",
      path: "/api/v1/destinations/:id",
      scope: "admin",
      async handle({ res, params }) {
        const found = await s.store.findDestination(params.id!);
        if (found === undefined) throw new NotFoundError(`no destination ${params.id}`);
        sendJson(res, 200, destinationView(found) satisfies DestinationView);
      },
    },
    {
      method: "DELETE",
      path: "/api/v1/destinations/:id",
      scope: "admin",
      async handle({ res, params, principal, log }) {
        if (!(await s.store.deleteDestination(params.id!))) throw new NotFoundError(`no destination ${params.id}`);
        // Here at once; on another replica delivering it, before its next attempt (its claim is refused).
        await s.destinations.forget(params.id!);
        log.info({ destinationId: params.id, by: principal?.name }, "destination deleted");
        res.writeHead(204).end();
      },
    },
  ];
}
