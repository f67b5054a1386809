/**
 * Exit codes of `uplink`: 0 success · 1 the hub answered an error · 2 bad usage or configuration ·
 * 3 the hub could not be reached · 4 a fan-out finished but some targets did not answer `ok`.
 */
export const EXIT_CODES = { ok: 0, apiError: 1, usage: 2, unreachable: 3, targetsFailed: 4 } as const;
