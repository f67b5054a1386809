import { z } from "zod";
import { Labels } from "./agent-messages.js";
import { LabelMap } from "./rest.js";

/** API token scopes, each including the ones before it: read < query < admin. */
export const SCOPES = ["read", "query", "admin"] as const;
export const Scope = z.enum(SCOPES);
export type Scope = z.infer<typeof Scope>;

export const TokenKind = z.enum(["api", "enroll"]);
export type TokenKind = z.infer<typeof TokenKind>;

/** `POST /api/v1/tokens` body. */
export const TokenRequest = z
  .object({
    kind: TokenKind,
    scope: Scope.optional(),
    name: z.string().trim().min(1).max(128),
    ttlSeconds: z
      .number()
      .int()
      .positive()
      .max(10 * 365 * 24 * 3600)
      .optional(),
    /** Enrollment tokens: the labels every agent enrolled with it gets. */
    labels: Labels.optional(),
    /** Enrollment tokens: how many enrollments it allows. */
    maxUses: z.number().int().positive().max(1_000_000_000).optional(),
  })
  .refine((t) => t.kind === "api" || t.scope === undefined, { message: "enrollment tokens take no scope", path: ["scope"] })
  .refine((t) => t.kind === "enroll" || (t.labels === undefined && t.maxUses === undefined), { message: "only enrollment tokens take labels and maxUses", path: ["kind"] });
export type TokenRequest = z.input<typeof TokenRequest>;

/** A token as listed: never its secret nor the secret's hash. Times are milliseconds since the epoch. */
export const TokenView = z.object({
  id: z.string(),
  kind: TokenKind,
  /** Present for `api` tokens. */
  scope: Scope.nullable(),
  name: z.string(),
  createdAt: z.number().int(),
  expiresAt: z.number().int().nullable(),
  revokedAt: z.number().int().nullable(),
  /** Enrollment tokens: the labels every agent enrolled with it gets, or null. */
  labels: LabelMap.nullable(),
  /** Enrollment tokens: how many enrollments it allows; null is unlimited. */
  maxUses: z.number().int().nullable(),
  /** Enrollment tokens: how many agents it enrolled. */
  uses: z.number().int(),
});
export type TokenView = z.infer<typeof TokenView>;

/** `POST /api/v1/tokens` 201: the token with its secret `<id>.<secret>`, shown this once. */
export const TokenCreated = TokenView.extend({
  token: z.string(),
  /** Enrollment tokens, when the hub's URL is known: the line that installs a host with this token. */
  installLine: z.string().optional(),
});
export type TokenCreated = z.infer<typeof TokenCreated>;

/** `GET /api/v1/tokens` 200. */
export const TokenList = z.object({ tokens: z.array(TokenView) });
export type TokenList = z.infer<typeof TokenList>;
