import type { IncomingMessage } from "node:http";

/** A host name or address with an optional port, as a Host header may carry it; nothing a shell would read. */
const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * The hub's URL as hosts reach it: `--public-url` when set, else the scheme this request came in on and
 * its Host header (only when that header is a plain host[:port]; anything else is refused with undefined,
 * so a forged header can never put shell syntax into a script the hub serves).
 */
export function publicUrlFor(req: IncomingMessage, configured: string | undefined, tls: boolean): string | undefined {
  if (configured !== undefined) return configured;
  const host = req.headers.host;
  if (host === undefined || !HOST.test(host)) return undefined;
  return `${tls ? "https" : "http"}://${host}`;
}

/** Single-quotes a word for a POSIX shell. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'"'"'`)}'`;
}

/**
 * The line an operator pastes on a host to install and enroll the agent. The token travels in the
 * environment (`export` is a shell builtin and `sudo --preserve-env` passes it on), never as an argument,
 * so it does not show in `ps` on the host.
 */
export function installLine(hubUrl: string, token: string): string {
  return (
    `export UPLINK_ENROLL_TOKEN=${shellQuote(token)}; ` +
    `curl -fsSL ${shellQuote(`${hubUrl}/install.sh`)} | sudo --preserve-env=UPLINK_ENROLL_TOKEN sh -s -- --label env=prod`
  );
}
