// Cost of the frame shape check (`checkFrameShape`, run before JSON.parse on every frame and REST body)
// next to JSON.parse itself, for ordinary frames and for the hostile shapes it refuses. Imports the
// compiled protocol package, so run `pnpm build` first.
//
//   node bench/frame-shape.bench.mjs            (BENCH_ITERATIONS=20 for steadier figures)
//
// Figures per frame: its size, the check's and JSON.parse's median ms, and whether the check refuses it.
// For a refused frame, JSON.parse is what the hub would have spent on its event loop without the check.
import { pathToFileURL } from "node:url";

const { checkFrameShape } = await import(new URL("../packages/protocol/dist/index.js", import.meta.url).href);

const reply = (result) => JSON.stringify({ type: "session_response", sessionId: "s", correlationId: "c", ok: true, result, durationMs: 3 });

function frames() {
  const strings = Array.from({ length: 10_000 }, (_, i) => [i, `/usr/lib/systemd/systemd --user ${i}`, "S", 4096 * i, null]);
  const numbers = Array.from({ length: 200_000 }, (_, i) => [i, i * 2, 1.5, -i, 0]);
  const deep = 1_000_000;
  return {
    "health reply": JSON.stringify({ type: "session_response", sessionId: "uplink-health", correlationId: "c", ok: true, result: { status: "ok", agentVersion: "1", uptimeS: 1, load1: 0.1, memFreeBytes: 1, memTotalBytes: 2, inflight: 0, collectors: ["host"] } }),
    "10,000 process rows": reply({ columns: ["pid", "cmdline", "state", "rss", "parent"], rows: strings, rowCount: strings.length, truncated: false }),
    "200,000 numeric rows": reply({ columns: ["a", "b", "c", "d", "e"], rows: numbers, rowCount: numbers.length, truncated: false }),
    "hostile: 1 M levels deep": `{"type":"session_response","sessionId":"s","correlationId":"c","ok":true,"x":${"[".repeat(deep)}${"]".repeat(deep)}}`,
    "hostile: 300,000 keys": `{"type":"session_response","sessionId":"s","correlationId":"c","ok":true,${Array.from({ length: 300_000 }, (_, i) => `"k${i}":1`).join(",")}}`,
  };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (ms) => Math.round(ms * 100) / 100;

function time(fn, iterations) {
  const samples = [];
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    fn();
    samples.push(performance.now() - t0);
  }
  return round(median(samples));
}

/** Runs the benchmark: `{ iterations, frames: { name: { bytes, checkMs, parseMs, refused } } }`. */
export async function run({ iterations = Number(process.env.BENCH_ITERATIONS ?? 7) } = {}) {
  const out = {};
  for (const [name, text] of Object.entries(frames())) {
    const hostile = name.startsWith("hostile");
    out[name] = {
      bytes: text.length,
      checkMs: time(() => checkFrameShape(text), iterations),
      parseMs: time(() => JSON.parse(text), hostile ? 1 : iterations),
      refused: checkFrameShape(text)?.error ?? null,
    };
  }
  return { bench: "frame-shape", iterations, frames: out, node: process.version };
}

/** A readable table of the figures. */
export function formatTable(figures) {
  const header = ["frame", "bytes", "check ms", "JSON.parse ms", "refused"];
  const lines = Object.entries(figures.frames).map(([name, f]) => [name, String(f.bytes), String(f.checkMs), String(f.parseMs), f.refused ?? "no"]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const row = (cells) => cells.map((c, i) => (i === 0 || i === 4 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [`frame shape check vs JSON.parse — median of ${figures.iterations} (node ${figures.node})`, row(header), widths.map((w) => "-".repeat(w)).join("  "), ...lines.map(row)].join("\n");
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const figures = await run();
  process.stdout.write(`${JSON.stringify(figures)}\n\n${formatTable(figures)}\n`);
}
