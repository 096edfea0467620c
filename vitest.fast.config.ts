import { defineConfig } from "vitest/config";

/**
 * The fast tier (`npm run test:fast`): every test under test/model-free/ (no model, no engine, no browser), for
 * the edit loop, under a minute. A test that needs a model goes in test/models/, one that drives Chromium in
 * test/browser/. `npm test` runs all three.
 */
export default defineConfig({
    test: {
        include: ["test/model-free/**/*.test.ts"],
        pool: "forks",
    },
});
