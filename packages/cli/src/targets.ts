import { UsageError } from "./context.js";

/** Commander's collector of a repeatable option. */
export const collect = (value: string, previous: string[]) => [...previous, value];

/** `--label k=v` options as a label map; a pair without `=` is a usage error. */
export function parseLabels(pairs: string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const kv of pairs) {
    const eq = kv.indexOf("=");
    if (eq <= 0) throw new UsageError(`--label takes k=v, got "${kv}"`);
    labels[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return labels;
}

/** The targets `--agent`, `--label` and `--all` name (their union); undefined when none is given. */
export function targetsOf(opts: { agent: string[]; label: string[]; all?: boolean }): { agentIds?: string[]; labels?: Record<string, string>; all?: boolean } | undefined {
  if (opts.agent.length === 0 && opts.label.length === 0 && opts.all !== true) return undefined;
  return {
    ...(opts.agent.length > 0 ? { agentIds: opts.agent } : {}),
    ...(opts.label.length > 0 ? { labels: parseLabels(opts.label) } : {}),
    ...(opts.all === true ? { all: true } : {}),
  };
}
