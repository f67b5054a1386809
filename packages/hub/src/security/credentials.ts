import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Credentials are `<id>.<secret>`: the id finds the record, the secret is checked against its sha256.
 * Secrets are 32 random bytes, so a plain hash is enough (no password stretching needed), and the
 * comparison is constant-time.
 */
export interface Credential {
  id: string;
  secret: string;
}

/** A fresh id with a readable prefix, e.g. `tok_1f2e…`, `agt_…`. */
export function newId(prefix: "tok" | "agt" | "ses"): string {
  return `${prefix}_${randomBytes(8).toString("hex")}`;
}

/** A new secret and its hash; the secret is shown once and never stored. */
export function newSecret(): { secret: string; secretHash: string } {
  const secret = randomBytes(32).toString("base64url");
  return { secret, secretHash: hashSecret(secret) };
}

export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** Splits `<id>.<secret>`; undefined when malformed. */
export function parseCredential(value: string): Credential | undefined {
  const dot = value.indexOf(".");
  if (dot <= 0 || dot === value.length - 1 || value.length > 512) return undefined;
  return { id: value.slice(0, dot), secret: value.slice(dot + 1) };
}

/** Constant-time check of a presented secret against a stored hash. */
export function secretMatches(secret: string, secretHash: string): boolean {
  const presented = Buffer.from(hashSecret(secret), "hex");
  const stored = Buffer.from(secretHash, "hex");
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}

/** Constant-time comparison of two presented strings (a CSRF token against the session's). */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The value of cookie `name` in a `Cookie` header, or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The bearer value of an `Authorization` header, or undefined. */
export function bearer(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}
