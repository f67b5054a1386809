import pino, { type DestinationStream, type Logger } from "pino";

export type { Logger };

/** Names whose values never reach a log line, as a logged field or as a field of a logged object. */
const SECRET_NAMES = ["token", "agentKey", "secret", "authorization", "cookie", "csrfToken"] as const;
/** Header names that carry secrets too, redacted as fields of a logged object (a headers object). */
const SECRET_HEADERS = ["set-cookie", "x-csrf-token"] as const;
const NESTED_SECRETS: readonly string[] = [...SECRET_NAMES, ...SECRET_HEADERS];

/** Paths pino redacts itself: a logged field of those names, and the headers of a logged request. */
const REDACT = [...SECRET_NAMES, "req.headers.authorization", "req.headers.cookie"];
const CENSOR = "[redacted]";

/**
 * The redaction of a logged object's fields one level down (`{body: {token}}`, `{headers: {cookie}}`),
 * done here rather than with pino's `*.token` paths: a wildcard path sends every field of every line
 * through the redactor, which cost more than the rest of the line on the query hot path (~20 µs a line,
 * issue 15). Lines without an object field, such as the hot path's, cost one `typeof` per field. A
 * field that holds a secret is replaced by a copy with the secret censored.
 */
function redactNested(fields: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const key in fields) {
    const value = fields[key];
    if (typeof value !== "object" || value === null || !holdsSecret(value)) continue;
    // An error is shadowed rather than copied, so that pino still serializes it as one (type, message, stack).
    const copy = (value instanceof Error ? Object.create(value) : { ...value }) as Record<string, unknown>;
    for (const name of NESTED_SECRETS) if (Object.hasOwn(value, name)) copy[name] = CENSOR;
    (out ??= { ...fields })[key] = copy;
  }
  return out ?? fields;
}

function holdsSecret(value: object): boolean {
  for (const name of NESTED_SECRETS) if (Object.hasOwn(value, name)) return true;
  return false;
}

/**
 * Lines reach stdout in writes of at least this many bytes, or every {@link LOG_FLUSH_MS}: a write(2) per
 * line cost ~25 µs of CPU (the thread pool's round trip), a tenth of a query's whole round trip (issue 15).
 * pino's own advice for asynchronous logging; a normal exit writes what is buffered, a crash loses at most
 * the last {@link LOG_FLUSH_MS} of lines (the audit, not the log, records what callers were answered).
 */
const LOG_BUFFER_BYTES = 4096;
const LOG_FLUSH_MS = 100;

/** The root logger of a process: JSON lines, secrets redacted. Made once, in `main`, and injected. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const root = pino(
    { level, base: { pid: process.pid }, redact: { paths: REDACT, censor: CENSOR }, formatters: { log: redactNested }, timestamp: pino.stdTimeFunctions.isoTime },
    destination ?? pino.destination({ fd: 1, sync: false, minLength: LOG_BUFFER_BYTES, periodicFlush: LOG_FLUSH_MS }),
  );
  // pino applies no formatter to a child's bindings; every logger descends from this one, so this one
  // method (inherited by children of children) redacts them as a line's fields are.
  const child = root.child;
  root.child = function (this: Logger, bindings, options) {
    return child.call(this, redactNested(bindings), options);
  } as typeof child;
  return root;
}
