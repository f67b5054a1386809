import { QueryAnswer as QueryAnswerSchema } from "@uplink/protocol";
import { describe, expect, it } from "vitest";
import { answerJson, type QueryAnswer } from "./query-service.js";

describe("answerJson", () => {
  it("writes the answer the REST API documents, around the result's JSON as made once", () => {
    const result = { columns: ["name", "pid", "note"], rows: [["sshd", 1, 'a "quoted" \u2028 line\n'], ["x", -0.5, null]], rowCount: 2, truncated: false };
    const answer: QueryAnswer = { correlationId: 'c-"1"', agentId: "agent\\1", result, resultJson: JSON.stringify(result), durationMs: 12.345 };
    const text = answerJson(answer);
    const { resultJson: _, ...fields } = answer;
    expect(text).toBe(JSON.stringify(fields));
    expect(QueryAnswerSchema.parse(JSON.parse(text))).toEqual(fields);
  });
});
