import { isTransientFailure } from "@uplink/protocol";

/** Attempts of one request, the first included. */
export const RETRY_ATTEMPTS = 4;
/** Backoff before the second attempt (doubled each time, full jitter). */
export const RETRY_BASE_MS = 250;
/** Largest backoff between two attempts. */
export const RETRY_CAP_MS = 2_000;

/** What {@link withRetries} needs to know of a failure. */
export interface Failure {
  /** 0 when no HTTP answer arrived (refused, reset, closed before a response). */
  status: number;
  /** The hub's error code; undefined when the answer carried none of ours (a proxy's page). */
  code: string | undefined;
}

/**
 * True when an attempt may be repeated safely and may succeed: no answer at all (with the request's
 * Idempotency-Key the hub runs it at most once, even if the first attempt reached it), 503, and a 502
 * that names a transport failure or is not the hub's own. A 502 carrying the agent's error
 * (`query_failed`, …) is a final answer and is never retried.
 */
export function isRetryable(failure: Failure): boolean {
  return failure.status === 0 || isTransientFailure(failure.status, failure.code);
}

/** Full-jitter exponential backoff before attempt `attempt + 1` (attempt counts from 1). */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** (attempt - 1)));
}

/**
 * Runs `attempt` up to {@link RETRY_ATTEMPTS} times while it fails retryably (as `classify` reads the
 * error), sleeping a jittered backoff in between; the last failure is rethrown.
 */
export async function withRetries<T>(attempt: () => Promise<T>, classify: (err: unknown) => Failure | undefined, sleep = defaultSleep): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      const failure = classify(err);
      if (n >= RETRY_ATTEMPTS || failure === undefined || !isRetryable(failure)) throw err;
      await sleep(backoffMs(n));
    }
  }
}

function defaultSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
