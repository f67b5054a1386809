import type { AgentHealthHistory } from "@uplink/protocol";
import { formatTime } from "../lib/format.js";

const WIDTH = 640;
const HEIGHT = 140;
const PAD = 24;

/**
 * An agent's health over time as a small SVG: load (line), memory used (shaded line, as a share of
 * total) and the samples where it did not answer (red ticks on the axis).
 */
export function HealthChart({ samples }: { samples: AgentHealthHistory["samples"] }) {
  if (samples.length === 0) return <p class="muted">No health samples yet.</p>;
  const times = samples.map((s) => new Date(s.at).getTime());
  const t0 = Math.min(...times);
  const t1 = Math.max(...times, t0 + 1);
  const maxLoad = Math.max(1, ...samples.map((s) => s.load1));
  const x = (t: number) => PAD + ((t - t0) / (t1 - t0)) * (WIDTH - 2 * PAD);
  const y = (fraction: number) => HEIGHT - PAD - fraction * (HEIGHT - 2 * PAD);
  const line = (value: (s: AgentHealthHistory["samples"][number]) => number | null) =>
    samples
      .map((s, i) => ({ v: value(s), t: times[i]! }))
      .filter((p): p is { v: number; t: number } => p.v !== null && Number.isFinite(p.v))
      .map((p, i) => `${i === 0 ? "M" : "L"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`)
      .join(" ");
  const load = line((s) => s.load1 / maxLoad);
  const memory = line((s) => (s.memTotalBytes > 0 ? 1 - s.memFreeBytes / s.memTotalBytes : null));
  const missed = samples.filter((s) => s.status !== "ok");

  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label="Health over time">
        <line class="axis" x1={PAD} y1={HEIGHT - PAD} x2={WIDTH - PAD} y2={HEIGHT - PAD} />
        <line class="grid" x1={PAD} y1={y(0.5)} x2={WIDTH - PAD} y2={y(0.5)} />
        <line class="grid" x1={PAD} y1={y(1)} x2={WIDTH - PAD} y2={y(1)} />
        <path class="mem" d={memory} />
        <path class="load" d={load} />
        {missed.map((s) => (
          <line class="missed" x1={x(new Date(s.at).getTime())} x2={x(new Date(s.at).getTime())} y1={HEIGHT - PAD} y2={HEIGHT - PAD + 6} />
        ))}
        <text x={PAD} y={HEIGHT - 6}>{formatTime(t0)}</text>
        <text x={WIDTH - PAD} y={HEIGHT - 6} text-anchor="end">
          {formatTime(t1)}
        </text>
        <text x={PAD} y={PAD - 8}>load max {maxLoad.toFixed(2)}</text>
      </svg>
      <figcaption>
        <span class="key load-key" /> load (1 min) <span class="key mem-key" /> memory used <span class="key missed-key" /> degraded
      </figcaption>
    </figure>
  );
}
