import { defineConfig } from "vitest/config";

/** Under CI a JSON report is written too; `.ci/run` reads its counts for the closing line. */
const ciReport = process.env.CI ? [["json", { outputFile: ".ci/test-results.json" }] as const] : [];

export default defineConfig({
  test: {
    include: ["packages/*/src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    reporters: ["default", ...ciReport],
  },
});
