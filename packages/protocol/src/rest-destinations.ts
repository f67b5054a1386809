import { z } from "zod";
import { IsoTime } from "./rest.js";

/*
 * Destinations: where the hub pushes the events of scheduled queries and policies.
 * `POST/GET/DELETE /api/v1/destinations[/:id]`, scope admin.
 */

/** The hub event types pushed to every destination; one list, read by the hub's delivery and the docs. */
export const DESTINATION_EVENT_TYPES = ["schedule.result", "policy.changed"] as const;
export type DestinationEventType = (typeof DESTINATION_EVENT_TYPES)[number];

/** The header carrying a webhook body's signature: `sha256=<hex HMAC-SHA256 of the body bytes with the secret>`. */
export const SIGNATURE_HEADER = "uplink-signature";
/** The signature's prefix in {@link SIGNATURE_HEADER}. */
export const SIGNATURE_PREFIX = "sha256=";

export const DESTINATION_KINDS = ["webhook", "file"] as const;
export const DestinationKind = z.enum(DESTINATION_KINDS);
export type DestinationKind = z.infer<typeof DestinationKind>;

/** Shortest webhook secret accepted: an HMAC key an attacker cannot guess. */
export const MIN_SECRET_CHARS = 16;

const WebhookRequest = z.strictObject({
  kind: z.literal("webhook"),
  url: z.url({ protocol: /^https?$/, message: "expected an http:// or https:// URL" }).max(2048),
  secret: z.string().min(MIN_SECRET_CHARS, `the secret must be at least ${MIN_SECRET_CHARS} characters`).max(512),
});

const FileRequest = z.strictObject({
  kind: z.literal("file"),
  path: z
    .string()
    .max(4096)
    .refine((p) => p.startsWith("/"), "expected an absolute path (starting with /)")
    .refine((p) => !p.includes("\0"), "the path holds a NUL character")
    .refine((p) => !p.endsWith("/"), "expected a file path, not a directory"),
});

/** `POST /api/v1/destinations` body: a webhook (signed POSTs) or a file (NDJSON, rotated by size). */
export const DestinationRequest = z.discriminatedUnion("kind", [WebhookRequest, FileRequest]);
export type DestinationRequest = z.input<typeof DestinationRequest>;

/** A destination as the API shows it: never a webhook's secret, only its fingerprint. */
export const DestinationView = z.object({
  id: z.string(),
  kind: DestinationKind,
  /** Webhooks: where events are POSTed; null for files. */
  url: z.string().nullable(),
  /** Webhooks: `sha256:` and the first 16 hex digits of the secret's SHA-256; null for files. */
  secretFingerprint: z.string().nullable(),
  /** Files: the NDJSON file written; null for webhooks. */
  path: z.string().nullable(),
  createdAt: IsoTime,
  /** The seq (hub event id) of the last event delivered; events after it are on their way. */
  deliveredSeq: z.number().int(),
  /** Why the latest attempt failed, while it keeps failing; null once an attempt succeeds. */
  lastError: z.string().nullable(),
  lastErrorAt: IsoTime.nullable(),
});
export type DestinationView = z.infer<typeof DestinationView>;

/** `GET /api/v1/destinations` 200. */
export const DestinationList = z.object({ destinations: z.array(DestinationView) });
export type DestinationList = z.infer<typeof DestinationList>;

/**
 * What a destination receives per event: the webhook's JSON body, the file's NDJSON line. `id` is the
 * event's seq (its id on `GET /api/v1/events`), unique and increasing; `data` is the event's data as that stream
 * sends it, `at` included.
 */
export const DeliveredEvent = z.object({ id: z.number().int(), type: z.enum(DESTINATION_EVENT_TYPES), data: z.record(z.string(), z.unknown()) });
export type DeliveredEvent = z.infer<typeof DeliveredEvent>;
