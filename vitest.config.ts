import { defineConfig } from "vitest/config";

export default defineConfig({
    test: {
        include: ["test/**/*.test.ts"],
        // Native engine + node-llama-cpp in one worker each; the machine has 2 cores.
        pool: "forks",
        fileParallelism: false,
        testTimeout: 120_000,
        hookTimeout: 120_000,
    },
});
