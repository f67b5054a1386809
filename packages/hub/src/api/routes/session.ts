import { SESSION_COOKIE, SessionRequest, type SessionView } from "@uplink/protocol";
import { RateLimitedError, UnauthorizedError } from "../../errors.js";
import type { LiveSession } from "../../security/sessions.js";
import { checkCsrf, sessionCookie } from "../auth.js";
import { readJson, sendJson } from "../http.js";
import type { Route } from "../route.js";
import { MAX_BODY_BYTES, type ApiServices } from "../services.js";

/** The answer describing a session. */
function sessionView({ session, token }: LiveSession): SessionView {
  return { name: token.name, scope: token.scope, csrfToken: session.csrfToken, expiresAt: new Date(session.expiresAt).toISOString() };
}

/** `Set-Cookie` for the session cookie: the value, or an empty one that expires at once (sign-out). */
function cookieHeader(s: ApiServices, value: string, maxAgeS: number): string {
  const secure = s.config.tlsCert !== undefined ? "; Secure" : "";
  return `${SESSION_COOKIE}=${value}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAgeS}${secure}`;
}

/**
 * `/api/v1/session`: the web console signs in with an API token, which it never keeps: the hub answers
 * with an HttpOnly cookie every route then accepts instead of a bearer token (api/auth.ts), and the
 * CSRF token the console sends on state-changing requests. Failed sign-ins are rate-limited per client
 * address, as enrollments are.
 */
export function sessionRoutes(s: ApiServices): Route[] {
  const live = async (cookie: string | undefined): Promise<LiveSession | undefined> => (cookie === undefined ? undefined : s.sessions.resolve(cookie));
  return [
    {
      method: "POST",
      path: "/api/v1/session",
      scope: null,
      // A sign-in is never replayed: a repeat would hand out the first one's cookie.
      idempotency: false,
      async handle({ req, res, log }) {
        const address = req.socket.remoteAddress ?? "unknown";
        const wait = s.signInLimiter.wait(address);
        if (wait > 0) throw new RateLimitedError(wait);
        const body = await readJson(req, SessionRequest, MAX_BODY_BYTES);
        const opened = await s.sessions.open(body.token).catch((err: unknown) => {
          // Only failures count against the address: a console signing in again and again is no guess.
          if (err instanceof UnauthorizedError) s.signInLimiter.take(address);
          throw err;
        });
        const maxAgeS = Math.max(0, Math.round((opened.session.expiresAt - Date.now()) / 1000));
        log.info({ sessionId: opened.session.id, tokenId: opened.token.id, name: opened.token.name }, "console session opened");
        sendJson(res, 201, sessionView(opened), { "Set-Cookie": cookieHeader(s, opened.cookie, maxAgeS), "Cache-Control": "no-store" });
      },
    },
    {
      method: "GET",
      path: "/api/v1/session",
      scope: null,
      async handle({ req, res }) {
        const session = await live(sessionCookie(req));
        if (session === undefined) throw new UnauthorizedError("no live session: sign in with POST /api/v1/session");
        sendJson(res, 200, sessionView(session), { "Cache-Control": "no-store" });
      },
    },
    {
      method: "DELETE",
      path: "/api/v1/session",
      scope: null,
      async handle({ req, res, log }) {
        const session = await live(sessionCookie(req));
        if (session !== undefined) {
          checkCsrf(req, session.session.csrfToken);
          await s.sessions.close(session.session.id);
          s.auth.forgetSession(session.session.id);
          log.info({ sessionId: session.session.id, name: session.token.name }, "console session closed");
        }
        // Whatever the cookie named, the browser is told to drop it.
        res.writeHead(204, { "Set-Cookie": cookieHeader(s, "", 0) }).end();
      },
    },
  ];
}
