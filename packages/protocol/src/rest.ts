import { z } from "zod";
import { Labels } from "./agent-messages.js";

/** The enrollment endpoint an agent posts to with an enrollment token. */
export const ENROLL_PATH = "/api/v1/enroll";

/** `POST /api/v1/enroll` body. */
export const EnrollRequest = z.object({
  token: z.string().min(1).max(512),
  hostname: z.string().min(1).max(255),
  labels: Labels.default({}),
});
export type EnrollRequest = z.input<typeof EnrollRequest>;

/** `POST /api/v1/enroll` 201 body: `agentKey` is the whole credential `<agentId>.<secret>`, shown once. */
export const EnrollResponse = z
  .object({ agentId: z.string().min(1), agentKey: z.string().min(3) })
  .refine((r) => r.agentKey.startsWith(`${r.agentId}.`), { message: "agentKey must be <agentId>.<secret>", path: ["agentKey"] });
export type EnrollResponse = z.infer<typeof EnrollResponse>;

/** Every REST error body. */
export const ErrorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) });
export type ErrorBody = z.infer<typeof ErrorBody>;
