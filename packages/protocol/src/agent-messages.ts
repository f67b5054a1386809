import { z } from "zod";
import { SessionResponse } from "./legacy-reply.js";

/** Labels of a host: at most 64, so a hello or an enrollment cannot make the hub store without bound. */
export const MAX_LABELS = 64;
const Labels = z
  .preprocess((value, ctx) => {
    // JSON.parse keeps a `__proto__` key as an own property, but a parsed record would silently drop it: a
    // filter `{"__proto__": "x"}` would become `{}`, which every agent matches. Refused instead.
    if (typeof value === "object" && value !== null && Object.hasOwn(value, "__proto__")) {
      ctx.addIssue({ code: "custom", message: "a label may not be named __proto__" });
    }
    return value;
  }, z.record(z.string().min(1).max(128), z.string().max(256)))
  .refine((labels) => Object.keys(labels).length <= MAX_LABELS, { message: `at most ${MAX_LABELS} labels` }) as unknown as z.ZodType<
  Record<string, string>,
  // Typed by what it accepts when piped from a k=v parser; at a boundary it takes any JSON value.
  Record<string, string>
>;

/** `hello`: the agent's first frame. */
export const Hello = z.object({
  type: z.literal("hello"),
  // Bounded like every field a host sends: the hub stores hostname, versions and reported labels as given.
  protocol: z.number().int().positive().max(1000),
  agentVersion: z.string().max(64),
  hostname: z.string().max(255),
  platform: z.string().max(64),
  arch: z.string().max(64),
  labels: Labels.default({}),
  capabilities: z.array(z.string().max(64)).max(64).default([]),
});
export type Hello = z.infer<typeof Hello>;

// `session_response` as the hub reads it, in this protocol's shape and every legacy one: legacy-reply.ts.
export { SessionResponse };

export type AgentToHub = Hello | SessionResponse;
export type AgentToHubType = AgentToHub["type"];

/** The schema of each agent → hub frame, by `type`. */
export const AGENT_TO_HUB_SCHEMAS = {
  hello: Hello,
  session_response: SessionResponse,
} as const satisfies Record<AgentToHubType, z.ZodType>;

export { Labels };
