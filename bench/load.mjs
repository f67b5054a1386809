// Closed-loop HTTP load: `concurrency` callers, each sending its next request as soon as the previous
// one answered, over keep-alive connections (one per caller). A warm-up phase, then a measured phase of
// fixed length: every request that completes inside the measured window is counted and its latency kept.
import http from "node:http";
import { performance } from "node:perf_hooks";

/**
 * @param {object} o
 * @param {number} o.port  on 127.0.0.1
 * @param {string} o.path
 * @param {string} o.body  JSON text, POSTed
 * @param {Record<string,string>} [o.headers]
 * @param {number} [o.concurrency]  default 50
 * @param {number} [o.warmupMs]
 * @param {number} o.measureMs
 * @param {(res: {status:number, body:string}) => boolean} [o.check]  validates a 200 (run on the first one)
 * @param {() => void} [o.onMeasureStart]  called when the measured phase starts
 * @param {() => void} [o.onMeasureEnd]    called when it ends
 * @returns {Promise<{rps:number, p50:number, p90:number, p99:number, max:number, mean:number, count:number, total:number, errors:number, warmupErrors:number, seconds:number, firstError:string|null}>}
 */
export async function load(o) {
  const concurrency = o.concurrency ?? 50;
  const warmupMs = o.warmupMs ?? 0;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });
  const body = Buffer.from(o.body);
  const headers = { "Content-Type": "application/json", "Content-Length": String(body.length), ...o.headers };
  const latencies = [];
  let errors = 0;
  let warmupErrors = 0;
  let firstError = null;
  let checked = false;
  let total = 0;

  const start = performance.now();
  const measureFrom = start + warmupMs;
  const measureTo = measureFrom + o.measureMs;
  // The phase marks fire once each: on their timer, or at the latest when the callers are done.
  const fired = [false, false];
  const mark = (i) => {
    if (fired[i]) return;
    fired[i] = true;
    (i === 0 ? o.onMeasureStart : o.onMeasureEnd)?.();
  };
  const marks = [setTimeout(() => mark(0), warmupMs), setTimeout(() => mark(1), warmupMs + o.measureMs)];

  function request() {
    return new Promise((resolve) => {
      const req = http.request({ host: "127.0.0.1", port: o.port, method: "POST", path: o.path, headers, agent }, (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, body: checked ? "" : Buffer.concat(chunks).toString("utf8") }));
        res.on("error", (err) => resolve({ status: 0, body: err.message }));
      });
      req.setTimeout(10_000, () => req.destroy(new Error("request timed out after 10 s")));
      req.on("error", (err) => resolve({ status: 0, body: err.message }));
      req.end(body);
    });
  }

  async function caller() {
    while (performance.now() < measureTo) {
      const t0 = performance.now();
      const res = await request();
      const t1 = performance.now();
      let ok = res.status === 200;
      if (ok && !checked) {
        checked = true;
        ok = o.check === undefined || o.check(res);
        if (!ok) firstError ??= `unexpected 200 body: ${res.body.slice(0, 300)}`;
      }
      const measured = t1 >= measureFrom && t1 <= measureTo;
      if (ok) {
        total++;
        if (measured) latencies.push(t1 - t0);
      } else {
        firstError ??= `HTTP ${res.status}: ${res.body.slice(0, 300)}`;
        if (measured) errors++;
        else if (t1 < measureFrom) warmupErrors++;
        await new Promise((r) => setTimeout(r, 5)); // never spin on a dead server
      }
    }
  }

  await Promise.all(Array.from({ length: concurrency }, caller));
  marks.forEach(clearTimeout);
  mark(0);
  mark(1);
  agent.destroy();

  const sorted = Float64Array.from(latencies).sort();
  const seconds = o.measureMs / 1000;
  return {
    rps: round(sorted.length / seconds, 0),
    p50: round(percentile(sorted, 0.5)),
    p90: round(percentile(sorted, 0.9)),
    p99: round(percentile(sorted, 0.99)),
    max: round(sorted.length > 0 ? sorted[sorted.length - 1] : NaN),
    mean: round(sorted.reduce((a, b) => a + b, 0) / sorted.length),
    count: sorted.length,
    total,
    errors,
    warmupErrors,
    seconds,
    firstError,
  };
}

/** Nearest-rank percentile of a sorted array, in its unit (ms). */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

function round(x, digits = 2) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
