import type { Command } from "commander";
import { printable } from "@uplink/protocol";
import type { CliContext } from "../context.js";

/** Pause before resuming a broken event stream. */
const RESUME_DELAY_MS = 1000;

/** `2026-01-01T00:00:00.000Z agent.connected agentId=agt_1 protocol=2` */
export function renderEvent(type: string, data: Record<string, unknown>): string {
  const { at, ...fields } = data;
  const text = Object.entries(fields)
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
  return printable(`${String(at ?? "")} ${type} ${text}`.trim());
}

export function registerEvents(program: Command, context: () => CliContext): void {
  program
    .command("events")
    .description("follow the hub's events (agents connecting, disconnecting, changing health; queries done) until interrupted")
    .option("--after <seq>", "first replay the stored events after this id (0: all that are kept)")
    .action(async (opts: { after?: string }) => {
      const ctx = context();
      const stop = new AbortController();
      process.once("SIGINT", () => stop.abort());
      let lastId: string | undefined;
      // Kept on every reconnect, as EventSource does: the hub resumes after Last-Event-ID once one was
      // seen, and `?after=` is only the starting point until then (a stream that broke before its first
      // event starts from `--after` again, not live, which would skip what happened in between).
      const path = opts.after === undefined ? "/api/v1/events" : `/api/v1/events?after=${encodeURIComponent(opts.after)}`;
      while (!stop.signal.aborted) {
        try {
          // The id is kept as each event arrives: a stream that breaks (rather than ends) returns none.
          await ctx.client.stream(path, { lastEventId: lastId, signal: stop.signal }, (event) => {
            lastId = event.id ?? lastId;
            const data = JSON.parse(event.data) as Record<string, unknown>;
            ctx.out(ctx.json ? JSON.stringify({ id: event.id, type: event.event, ...data }) : renderEvent(event.event, data));
          });
        } catch (err) {
          if ((err as { status?: number }).status !== 0) throw err;
          process.stderr.write(`uplink: ${(err as Error).message}; retrying\n`);
        }
        if (!stop.signal.aborted) await new Promise((r) => setTimeout(r, RESUME_DELAY_MS));
      }
    });
}
