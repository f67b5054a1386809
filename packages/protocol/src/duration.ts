/** Milliseconds per unit of a duration's text. */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/;

/** What {@link parseDuration} accepts, for messages. */
export const DURATION_EXAMPLES = "1500, 1500ms, 15s, 2m, 24h or 30d";

/**
 * `15000`, `15000ms`, `15s`, `2m`, `24h`, `30d` → milliseconds (rounded); undefined when the text is not a
 * duration. The one parser of durations: the hub's settings and the REST API's intervals both use it.
 */
export function parseDuration(value: string | number): number | undefined {
  const match = DURATION.exec(String(value));
  if (match === null) return undefined;
  return Math.round(Number(match[1]) * UNIT_MS[match[2] ?? "ms"]!);
}
