/** `sublab restat`: a recorded run's statistics drawn again from its own evaluations, as `sublab run` would draw them today. */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { readRunEvents } from "../../src/core/events.ts";
import { restatEvents, restatFile } from "../../src/studies/restat.ts";
import { resultsFromEvents } from "../../src/report/from-events.ts";
import { runStatistics } from "../../src/stats/run-statistics.ts";
import type { ArmName, ModelEval } from "../../src/core/results.ts";
import { tempDir } from "../helpers/tiny.ts";

const RECORDING = path.join(import.meta.dirname, "..", "..", "experiments", "recordings", "demo.events.jsonl");

describe("restat", () => {
    const events = readRunEvents(RECORDING);
    const after = restatEvents(events);

    it("gives every comparison a verdict, keeps its estimate, and keeps every other event", () => {
        const before = resultsFromEvents(events);
        const now = resultsFromEvents(after);
        expect(now.comparisons.map((c) => c.name)).toEqual(before.comparisons.map((c) => c.name));
        for (const [k, c] of now.comparisons.entries()) {
            expect(c.verdict, c.name).toBeDefined();
            expect(c.meanLogRatio).toBeCloseTo(before.comparisons[k]!.meanLogRatio, 9);
        }
        expect(after.filter((e) => e.type !== "arm" && e.type !== "comparison" && e.type !== "run-start")).toEqual(
            events.filter((e) => e.type !== "arm" && e.type !== "comparison" && e.type !== "run-start"),
        );
    });

    it("is what the run's statistics draw from the same evaluations in the run's order, and the same twice", () => {
        const evals = new Map<ArmName, ModelEval[]>();
        for (const a of resultsFromEvents(events).arms) evals.set(a.arm, a.evals);
        const direct = runStatistics(
            {
                ...(events[0]!.type === "run-start" ? (events[0] as Extract<(typeof events)[0], { type: "run-start" }>).config : ({} as never)),
                stats: { alpha: 0.05, margin: 1.1 },
            },
            evals,
        );
        expect(resultsFromEvents(after).comparisons).toEqual(direct.comparisons);
        expect(restatEvents(after)).toEqual(after);
    });

    it("rewrites a file in place", () => {
        const file = path.join(tempDir(), "events.jsonl");
        fs.copyFileSync(RECORDING, file);
        expect(restatFile(file)).toBe(resultsFromEvents(events).comparisons.length);
        expect(resultsFromEvents(readRunEvents(file)).comparisons.every((c) => c.verdict)).toBe(true);
    });
});
