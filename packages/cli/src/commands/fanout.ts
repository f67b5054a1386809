import type { CliContext } from "../context.js";

/** One target's outcome, as the hub streams it. */
export interface TargetResult {
  agentId: string;
  correlationId: string;
  status: "pending" | "ok" | "error" | "timeout" | "offline";
  result: { columns: string[]; rows: unknown[][]; rowCount: number; truncated: boolean } | null;
  error: { code: string; message: string } | null;
  durationMs: number | null;
  resultSeq: number | null;
}

export interface FanoutOutcome {
  id: string;
  targetCount: number;
  counts: Record<TargetResult["status"], number>;
  targets: TargetResult[];
}

/** Times a broken result stream is resumed (with Last-Event-ID) before reading the final state instead. */
const STREAM_RETRIES = 3;

/**
 * Starts a fan-out and collects its results from the result stream as they land, showing progress on
 * stderr when it is a terminal (and, with --json, printing each result as an NDJSON line at once). A
 * broken stream is resumed from the last result seen; the store's record settles anything left.
 */
export async function collectFanout(ctx: CliContext, body: Record<string, unknown>): Promise<FanoutOutcome> {
  const { data: started } = await ctx.client.request<{ id: string; targetCount: number }>("POST", "/api/v1/queries", body);
  const targets = new Map<string, TargetResult>();
  const counts = { pending: started.targetCount, ok: 0, error: 0, timeout: 0, offline: 0 };
  const progress = process.stderr.isTTY && !ctx.json;
  const show = () => {
    if (progress) process.stderr.write(`\r${targets.size}/${started.targetCount} answered · ${counts.ok} ok · ${counts.error} error · ${counts.timeout} timeout · ${counts.offline} offline `);
  };
  const land = (t: TargetResult) => {
    if (targets.has(t.correlationId)) return;
    targets.set(t.correlationId, t);
    counts.pending--;
    counts[t.status]++;
    if (ctx.json) ctx.out(JSON.stringify({ type: "result", ...t }));
    show();
  };
  show();
  let done = started.targetCount === 0;
  let lastId: string | undefined;
  for (let attempt = 0; !done && attempt <= STREAM_RETRIES; attempt++) {
    try {
      lastId = await ctx.client.stream(`/api/v1/queries/${started.id}/stream`, { lastEventId: lastId }, (event) => {
        if (event.event === "result") land(JSON.parse(event.data) as TargetResult);
        else if (event.event === "done") done = true;
      });
    } catch (err) {
      if (attempt === STREAM_RETRIES) throw err;
    }
  }
  if (!done) {
    const { data } = await ctx.client.request<{ targets: TargetResult[] }>("GET", `/api/v1/queries/${started.id}`);
    for (const t of data.targets) if (t.status !== "pending") land(t);
  }
  if (progress) process.stderr.write("\n");
  const ordered = [...targets.values()].sort((a, b) => a.agentId.localeCompare(b.agentId));
  return { id: started.id, targetCount: started.targetCount, counts, targets: ordered };
}
