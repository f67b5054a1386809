import type { Scope, SessionView } from "@uplink/protocol";

/**
 * The console's one way to the REST API. The session cookie (HttpOnly, SameSite=Strict) rides along on
 * every same-origin request by itself; what JavaScript adds is the CSRF token, on every request that
 * changes something, kept in memory only (never in storage, never in a URL).
 */

/** The signed-in session as `GET /api/v1/session` answers it. */
export type Session = SessionView;

/** A REST answer that was not 2xx: its status and the `{error: {code, message}}` body when there is one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

let csrfToken = "";
let onSignedOut: () => void = () => {};

/** Remembers the session's CSRF token (or forgets it with null). */
export function setSession(session: Session | null): void {
  csrfToken = session?.csrfToken ?? "";
}

/** Called when any request answers 401: the session ended (expired, signed out elsewhere, token revoked). */
export function whenSignedOut(callback: () => void): void {
  onSignedOut = callback;
}

const SCOPE_RANK: Record<Scope, number> = { read: 0, query: 1, admin: 2 };

/** True when a session of scope `have` may call a route that needs `need`. */
export function allows(have: Scope | undefined, need: Scope): boolean {
  return have !== undefined && SCOPE_RANK[have] >= SCOPE_RANK[need];
}

type Method = "GET" | "POST" | "PATCH" | "DELETE";

/** One JSON request; resolves with the parsed body (undefined on 204), rejects with an ApiError. */
export async function api<T>(method: Method, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET" && csrfToken !== "") headers["x-csrf-token"] = csrfToken;
  const init: RequestInit = { method, headers, credentials: "same-origin" };
  if (body !== undefined) init.body = JSON.stringify(body);
  if (signal !== undefined) init.signal = signal;
  const res = await fetch(path, init);
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text === "" ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!res.ok) {
    const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
    if (res.status === 401 && !path.endsWith("/session")) onSignedOut();
    throw new ApiError(res.status, error?.code ?? "http_" + res.status, error?.message ?? (text.slice(0, 200) || res.statusText));
  }
  return parsed as T;
}

/** `?k=v&…` from the defined entries (repeated keys for arrays), or "" when there are none. */
export function queryString(params: Record<string, string | number | string[] | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === "") continue;
    for (const v of Array.isArray(value) ? value : [value]) search.append(key, String(v));
  }
  const text = search.toString();
  return text === "" ? "" : `?${text}`;
}

/** The message to show for a failure: an ApiError's code and message, anything else's message. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
