import { formatDuration } from "../lib/format.js";

const BUCKETS = 12;

/** The distribution of targets' durations as a small bar histogram (empty until one landed). */
export function Histogram({ durations }: { durations: number[] }) {
  if (durations.length === 0) return null;
  const max = Math.max(...durations, 1);
  const counts = new Array<number>(BUCKETS).fill(0);
  for (const d of durations) counts[Math.min(BUCKETS - 1, Math.floor((d / max) * BUCKETS))]!++;
  const top = Math.max(...counts);
  return (
    <figure class="histogram" aria-label="Durations">
      <div class="bars">
        {counts.map((c, i) => (
          <span class="bar" title={`${c} target(s) ≤ ${formatDuration(((i + 1) / BUCKETS) * max)}`} style={{ height: `${(c / top) * 100}%` }} />
        ))}
      </div>
      <figcaption>
        0 – {formatDuration(max)} · {durations.length} answered
      </figcaption>
    </figure>
  );
}
