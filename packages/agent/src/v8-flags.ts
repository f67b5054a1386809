/**
 * V8 settings of the agent's query workers, sized for a process that runs one short query at a time and
 * then waits (bench/agent-idle.bench.mjs, bench/worker-memory.bench.mjs and bench/host-sql.bench.mjs
 * measure them; bench/README.md has the figures).
 */

/*
 * The daemon (`uplink-agent run`) runs with Node's defaults, measured against the alternatives:
 * - `--max-semi-space-size=1` saved ≤ 0.5 MB at rest (V8's memory reducer already gives an idle daemon's
 *   young generation back), while any V8 flag in the packaged executable's NODE_OPTIONS makes V8 reject
 *   its code cache (Node warns "Code cache data rejected" on every start and compiles from source).
 * - Without the JIT (`--jitless`, or `--no-opt` set at run time) the daemon idles 3–5 MB lower once it has
 *   answered a few queries (the optimizing compiler's pages of the Node binary stay untouched), but it
 *   masks every frame it sends in JavaScript (ws without its native helper): 40 ms (jitless) or 24 ms
 *   (no-opt) a MiB instead of 2.5.
 * - GC heuristics changed at run time through `v8.setFlagsFromString` once started (which keeps the packaged
 *   executable's code cache, unlike NODE_OPTIONS): `--heap-growing-percent=10`, `--compact-on-every-full-gc`
 *   or `--bytecode-old-age=1` left the idle daemon within ±1 MB of Node's defaults (its bundle under node,
 *   30 s after start, no hub). An idle daemon holds what it loaded (zod and the schemas built with it, its
 *   bundle's source: bench/README.md, "Agent footprint"), not garbage V8's defaults leave behind.
 */

/**
 * Every query worker, besides its heap bound: a 2 MiB young generation (a worker fills Node's default one
 * with each query's garbage and keeps it) and `gc()` exposed so that a worker left idle collects its
 * garbage once (query-worker.ts). Measured on `select * from processes`, alternating with workers on
 * Node's defaults: after 40 queries and a second idle a worker holds ~23 MB of its own instead of ~28,
 * at 1–2 % of the query's time (within the machine's noise); 1 MiB would hold ~18 MB but cost ~6 %, 4 MiB
 * saves nothing. The JIT stays: `--jitless` would save ~5 MB per worker but parses /proc ~30 % slower.
 * All are flags NODE_OPTIONS accepts, as the packaged executable's workers receive them there (which is
 * why those workers also get `--no-warnings`: worker-process.ts).
 */
export const WORKER_V8_FLAGS: readonly string[] = ["--max-semi-space-size=2", "--expose-gc"];
