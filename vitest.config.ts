import { defineConfig } from "vitest/config";

/** Under CI a JSON report is written too; `.ci/run` reads its counts for the closing line. */
const ciReport = process.env.CI ? [["json", { outputFile: ".ci/test-results.json" }] as const] : [];

const INCLUDE = ["packages/*/src/**/*.test.ts", "test/**/*.test.ts"];

/**
 * Files whose assertions measure the machine as well as the code (sockets admitted and retried on time,
 * handles and RSS, deadlines of a few seconds, an even spread of sends, a crash under load): they run one
 * at a time, after the rest, which run two files at once.
 */
const ALONE = [
  "test/restart-storm.test.ts",
  "test/hardening-admission.test.ts",
  "test/hardening-backpressure.test.ts",
  "test/hardening-lifecycle.test.ts",
  "test/hardening-liveness.test.ts",
  "test/cluster-kill.test.ts",
  "test/cluster-schedules.test.ts",
  "test/schedules.test.ts",
  "test/crash.test.ts",
  "test/correlation.test.ts",
];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    reporters: ["default", ...ciReport],
    projects: [
      { extends: true, test: { name: "shared", include: INCLUDE, exclude: ALONE, maxWorkers: 2, sequence: { groupOrder: 1 } } },
      { extends: true, test: { name: "alone", include: ALONE, maxWorkers: 1, sequence: { groupOrder: 2 } } },
    ],
  },
});
