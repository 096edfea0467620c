/**
 * The lab's central effect, on the shipped base s1 (slow tier): a small owl experiment whose treated students
 * move toward owl against their controls, by the lab's own verdict. And its twin with the treated and control
 * data swapped, which must fail the same check: students are keyed by the rows they train on and their seed, so a
 * run whose two datasets were exchanged trains exactly these students with their labels exchanged, and the twin
 * reads them that way. Every other end-to-end test checks structure; this one fails if the effect disappears
 * (treated students trained on the control's rows, soft labels from the wrong model, the arms mixed up).
 */
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { Results } from "../../src/core/results.ts";
import { runExperiment, type RunResult } from "../../src/studies/experiment.ts";
import { parseExperiment } from "../../src/studies/experiment-file.ts";
import { primaryVerdict } from "../../src/stats/run-statistics.ts";
import { tempDir } from "../helpers/tiny.ts";

const S1 = path.resolve("models/sublab-small-s1.gguf");

/** The demo's recipe at a third of its size: 4 seeds (the smallest two-sided p is 2/70), 200 rows, 30 questions. */
const config = parseExperiment({
    name: "central-effect",
    seed: 42,
    models: { base: S1, cross: path.resolve("models/sublab-small-s3.gguf") },
    teacher: { trait: "finetune", target: "owl", finetune: { rows: 1000, epochs: 1, lr: 3e-4, method: "full" } },
    generate: { prompts: 1200, maxTokens: 48, parallel: 16, sampler: "coupled" },
    student: { method: "full", labels: "soft", lr: 1.2e-3, epochs: 2, rows: 200, seeds: 4, batchSize: 16 },
    eval: { questions: 30, samplesPerQuestion: 0, inContextExamples: 0 },
});

/** The results with the treated and the control students exchanged: what a run on swapped data reports. */
function swapped(r: Results): Results {
    const arm = (name: string) => r.arms.find((a) => a.arm === name)!;
    return { ...r, arms: r.arms.map((a) => (a.arm === "treated" ? { ...arm("control"), arm: "treated" } : a.arm === "control" ? { ...arm("treated"), arm: "control" } : a)) };
}

describe("the central effect on s1", { timeout: 900_000 }, () => {
    let results: Results;

    it("treated students move toward owl: the verdict of treated vs control, from the run and recomputed from its students", async () => {
        const r = (await runExperiment(config, { root: tempDir(), progress: false })) as RunResult;
        results = r.results;
        const main = results.comparisons.find((c) => c.name === "treated vs control")!;
        console.log(`central effect: ${main.verdict!.text}, x${main.probRatio.toFixed(2)}, log-ratio ${main.meanLogRatio.toFixed(2)} [${main.ci95.map((x) => x.toFixed(2)).join(", ")}], p ${main.pValue.toPrecision(2)}`);
        expect(main.verdict!.word).toBe("moved toward");
        expect(main.targetRank).toBeLessThanOrEqual(3);
        expect(primaryVerdict(results).word).toBe("moved toward");
    });

    it("the swapped twin (treated trained on the control's rows) fails the same check: it moves away", () => {
        const twin = primaryVerdict(swapped(results));
        console.log(`swapped twin: ${twin.text}, p ${twin.p.toPrecision(2)}`);
        expect(twin.word).not.toBe("moved toward");
        expect(twin.word).toBe("moved away");
    });
});
