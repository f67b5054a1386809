import { z } from "zod";
import { HEALTH_SESSION_ID, MAX_ID_CHARS, MAX_QUERY_CHARS, MAX_TIMEOUT_MS } from "./constants.js";

/** A hub-generated correlationId as the agent sees it: opaque, echoed verbatim. */
export const CorrelationId = z.string().min(1).max(MAX_ID_CHARS);
export const SessionId = z.string().min(1).max(MAX_ID_CHARS);

export const CommandKind = z.enum(["query", "health"]);
export type CommandKind = z.infer<typeof CommandKind>;

/** `welcome`: sent once by the hub after the upgrade. */
export const Welcome = z.object({
  type: z.literal("welcome"),
  protocol: z.number().int().positive(),
  hubId: z.string().min(1).max(MAX_ID_CHARS),
  agentId: z.string().min(1).max(MAX_ID_CHARS),
  healthIntervalMs: z.number().int().positive(),
  maxInflight: z.number().int().positive(),
});
export type Welcome = z.infer<typeof Welcome>;

/**
 * `session_command` as it arrives on the wire. Older hubs send `session_id` instead of `sessionId`
 * and no correlationId; the transform folds both spellings into `sessionId` (rule 3).
 */
export const SessionCommand = z
  .object({
    type: z.literal("session_command"),
    sessionId: SessionId.optional(),
    session_id: SessionId.optional(),
    correlationId: CorrelationId.optional(),
    kind: CommandKind.default("query"),
    collector: z.string().min(1).max(64).default("host"),
    query: z.string().max(MAX_QUERY_CHARS).default(""),
    timeoutMs: z.number().int().positive().max(MAX_TIMEOUT_MS).optional(),
  })
  .refine((c) => c.sessionId !== undefined || c.session_id !== undefined, {
    message: "sessionId is required",
    path: ["sessionId"],
  })
  .transform(({ session_id, sessionId, ...rest }) => ({ ...rest, sessionId: (sessionId ?? session_id) as string }));
export type SessionCommand = z.output<typeof SessionCommand>;
/** The shape the hub writes (protocol 2). */
export type SessionCommandFrame = z.input<typeof SessionCommand>;

/** `cancel`: the caller gave up; the agent stops that work. */
export const Cancel = z.object({
  type: z.literal("cancel"),
  correlationId: CorrelationId,
});
export type Cancel = z.infer<typeof Cancel>;

export type HubToAgent = Welcome | SessionCommand | Cancel;
export type HubToAgentType = HubToAgent["type"];

/** The schema of each hub → agent frame, by `type`. */
export const HUB_TO_AGENT_SCHEMAS = {
  welcome: Welcome,
  session_command: SessionCommand,
  cancel: Cancel,
} as const satisfies Record<HubToAgentType, z.ZodType>;

export { HEALTH_SESSION_ID };
