import { isRetryable, type Failure } from "./retry.js";

/** Exit codes of `uplink`. */
export const EXIT_CODES = { ok: 0, apiError: 1, usage: 2, unreachable: 3, targetsFailed: 4, transient: 5 } as const;

/** What each exit code means, as `uplink --help` and the README say it. */
export const EXIT_CODE_MEANINGS: Record<keyof typeof EXIT_CODES, string> = {
  ok: "success",
  apiError: "the hub answered an error (the message carries its code and the correlationId)",
  usage: "bad usage or configuration",
  unreachable: "the hub could not be reached",
  targetsFailed: "a fan-out finished but some targets did not answer ok",
  transient: "the hub answered a transient failure (busy, not ready, shutting down, connection to the agent lost): try again later (a query was already retried)",
};

/**
 * The exit code of a failed call to the hub: no answer at all is `unreachable`; an answer the error
 * registry calls retryable (or a proxy's 502/503) is `transient`, whatever the CLI already retried; any other
 * error is the hub's final answer (`apiError`).
 */
export function exitCodeOf(failure: Failure): number {
  if (failure.status === 0) return EXIT_CODES.unreachable;
  return isRetryable(failure) ? EXIT_CODES.transient : EXIT_CODES.apiError;
}

/** The exit codes and their meanings, one a line, for `uplink --help`. */
export function exitCodesHelp(): string {
  const lines = Object.entries(EXIT_CODES).map(([name, code]) => `  ${code}  ${EXIT_CODE_MEANINGS[name as keyof typeof EXIT_CODES]}`);
  return `\nExit codes:\n${lines.join("\n")}`;
}
