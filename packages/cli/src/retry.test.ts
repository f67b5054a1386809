import { describe, expect, it } from "vitest";
import { backoffMs, isRetryable, RETRY_ATTEMPTS, RETRY_BASE_MS, RETRY_CAP_MS, withRetries, type Failure } from "./retry.js";

class Refused extends Error {
  constructor(readonly failure: Failure) {
    super(`${failure.status} ${failure.code}`);
  }
}

const classify = (err: unknown) => (err instanceof Refused ? err.failure : undefined);
const noSleep = async () => {};

describe("withRetries", () => {
  it("retries no-answer, 503 and transport 502s, then succeeds with the same attempt function", async () => {
    const failures: Failure[] = [{ status: 0, code: "unreachable" }, { status: 503, code: "busy" }, { status: 502, code: "replica_unreachable" }];
    let calls = 0;
    const result = await withRetries(
      async () => {
        const failure = failures[calls++];
        if (failure !== undefined) throw new Refused(failure);
        return "done";
      },
      classify,
      noSleep,
    );
    expect(result).toBe("done");
    expect(calls).toBe(4);
  });

  it("never retries a final answer: the agent's 502 error, a 4xx, a 504, or an error it cannot classify", async () => {
    for (const failure of [{ status: 502, code: "query_failed" }, { status: 409, code: "agent_offline" }, { status: 422, code: "idempotency_mismatch" }, { status: 504, code: "timeout" }]) {
      let calls = 0;
      await expect(withRetries(async () => { calls++; throw new Refused(failure); }, classify, noSleep)).rejects.toBeInstanceOf(Refused);
      expect(calls, JSON.stringify(failure)).toBe(1);
    }
    let calls = 0;
    await expect(withRetries(async () => { calls++; throw new TypeError("bug"); }, classify, noSleep)).rejects.toBeInstanceOf(TypeError);
    expect(calls).toBe(1);
  });

  it("gives up after RETRY_ATTEMPTS attempts with the last failure, sleeping a bounded jittered backoff in between", async () => {
    const slept: number[] = [];
    let calls = 0;
    await expect(withRetries(async () => { calls++; throw new Refused({ status: 0, code: "unreachable" }); }, classify, async (ms) => void slept.push(ms))).rejects.toBeInstanceOf(Refused);
    expect(calls).toBe(RETRY_ATTEMPTS);
    expect(slept).toHaveLength(RETRY_ATTEMPTS - 1);
    for (const ms of slept) expect(ms).toBeLessThanOrEqual(RETRY_CAP_MS);
  });
});

describe("isRetryable / backoffMs", () => {
  it("treats a 502 without a hub code (a proxy's page) as transient and one with the agent's code as final", () => {
    expect(isRetryable({ status: 502, code: undefined })).toBe(true);
    expect(isRetryable({ status: 502, code: "read_only" })).toBe(false);
    expect(isRetryable({ status: 500, code: "internal" })).toBe(false);
  });

  it("doubles the ceiling per attempt up to the cap, with full jitter", () => {
    expect([1, 2, 3, 10].map((n) => backoffMs(n, () => 0.999999))).toEqual([RETRY_BASE_MS - 1, 2 * RETRY_BASE_MS - 1, 4 * RETRY_BASE_MS - 1, RETRY_CAP_MS - 1]);
    expect(backoffMs(3, () => 0)).toBe(0);
  });
});
