import pino, { type DestinationStream, type Logger } from "pino";

export type { Logger };

/** Paths whose values never reach a log line. */
const REDACT = [
  "token",
  "agentKey",
  "secret",
  "authorization",
  "cookie",
  "csrfToken",
  "*.token",
  "*.agentKey",
  "*.secret",
  "*.authorization",
  "*.cookie",
  "*.csrfToken",
  "*[\"set-cookie\"]",
  "*[\"x-csrf-token\"]",
  "req.headers.authorization",
  "req.headers.cookie",
];

/** The root logger of a process: JSON lines, secrets redacted. Made once, in `main`, and injected. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    { level, base: { pid: process.pid }, redact: { paths: REDACT, censor: "[redacted]" }, timestamp: pino.stdTimeFunctions.isoTime },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}
