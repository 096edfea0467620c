import { defineConfig } from "vitest/config";

/**
 * The fast tier (`npm run test:fast`): model-free tests for the edit loop, under a minute. `npm test` runs
 * everything, these included.
 */
export default defineConfig({
    test: {
        include: [
            "test/experiment-schema.test.ts",
            "test/experiment-stats.test.ts",
            "test/verdict.test.ts",
            "test/kept-results.test.ts",
            "test/restat.test.ts",
            "test/probe.test.ts",
            "test/experiment-report.test.ts",
            "test/compare-report.test.ts",
            "test/filter-format.test.ts",
            "test/filter-stages.test.ts",
            "test/filter-domains.test.ts",
            "test/audit.test.ts",
            "test/digits.test.ts",
            "test/gguf.test.ts",
            "test/progress.test.ts",
            "test/rng.test.ts",
            "test/timing.test.ts",
            "test/forge-corpus.test.ts",
            "test/cli-train.test.ts",
            "test/architecture.test.ts",
            "test/judge.test.ts",
            "test/workshop-server.test.ts",
        ],
        pool: "forks",
    },
});
