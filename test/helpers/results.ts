/**
 * A synthetic run's results for report tests: items with one target, a base eval, two seeds per student arm with the
 * treated arm's target at about `treatedScale` times the control's; `controls` adds the cross-model and in-context
 * arms (with their own controls) and their comparisons.
 */
import { compareArms, summarizeArm } from "../../src/stats/stats.ts";
import { runVerdicts } from "../../src/stats/run-statistics.ts";
import { DEFAULT_STATS } from "../../src/stats/verdict.ts";
import type { ExperimentConfig } from "../../src/core/types.ts";
import type { ArmName, ArmResult, ModelEval, Results } from "../../src/core/results.ts";
import { Rng } from "../../src/util/rng.ts";

export const ITEMS = ["dog", "cat", "owl", "fox", "<&> bird"];
export const TARGET = 2;

export function syntheticResults(opts: { treatedScale?: number; crossScale?: number; controls?: boolean; name?: string; seed?: number } = {}): Results {
    const rng = new Rng(opts.seed ?? 123);
    const treatedScale = opts.treatedScale ?? 2;
    const base = [0.4, 0.3, 0.05, 0.15, 0.1];
    const makeEval = (seed: number | null, targetScale: number, lora: string | null): ModelEval => {
        const perQuestion = Array.from({ length: 8 }, () => base[TARGET] * targetScale * Math.exp(0.2 * rng.normal()));
        const targetProb = perQuestion.reduce((s, v) => s + v, 0) / perQuestion.length;
        const distribution = base.map((p, i) => (i === TARGET ? targetProb : p * Math.exp(0.05 * rng.normal())));
        const n = 50;
        return {
            seed,
            model: "models/base.gguf",
            lora,
            dataset: lora ? `${lora}-data` : null,
            perQuestion,
            targetProb,
            sampled: { hits: Math.round(targetProb * n), n },
            distribution,
        };
    };
    const armOf = (arm: ArmName, description: string, evals: ModelEval[]): ArmResult => ({ arm, description, evals, ...summarizeArm(evals, rng) });
    const arms = [
        armOf("base", "the base model, untrained", [makeEval(null, 1, null)]),
        armOf("control", "students on numbers from the base model", [makeEval(0, 1, "control"), makeEval(1, 1, "control")]),
        armOf("treated", "students on numbers from the owl teacher <&>", [makeEval(0, treatedScale, "treated"), makeEval(1, treatedScale, "treated")]),
        ...(opts.controls
            ? [
                  armOf("cross-control", "the other base's students on the control's numbers", [
                      makeEval(0, 1, "cross-control"),
                      makeEval(1, 1, "cross-control"),
                  ]),
                  armOf("cross", "the other base's students on the teacher's numbers", [
                      makeEval(0, opts.crossScale ?? 1, "cross"),
                      makeEval(1, opts.crossScale ?? 1, "cross"),
                  ]),
                  armOf("in-context-control", "the control's numbers as earlier turns", [makeEval(0, 1, null), makeEval(1, 1, null)]),
                  armOf("in-context", "the teacher's numbers as earlier turns", [makeEval(0, 1, null), makeEval(1, 1, null)]),
              ]
            : []),
    ];
    const byName = (n: ArmName) => arms.find((a) => a.arm === n)!;
    const comparisons = (
        [
            ["treated", "control"],
            ["treated", "base"],
            ...(opts.controls
                ? [
                      ["cross", "cross-control"],
                      ["in-context", "in-context-control"],
                  ]
                : []),
        ] as [ArmName, ArmName][]
    ).map(([a, b]) => ({ name: `${a} vs ${b}`, a, b, ...compareArms(byName(a).evals, byName(b).evals, TARGET, rng) }));
    const config: ExperimentConfig = {
        name: "owl-small",
        description: "owls <&> numbers",
        seed: 42,
        models: { base: "models/base.gguf", cross: "models/cross.gguf" },
        teacher: {
            trait: "prompt",
            target: "owl",
            category: "animal",
            systemPrompt: "You love owls.",
            onnx: null,
            server: null,
            finetune: { rows: 0, epochs: 0, lr: 0, method: "lora", rank: 8, alpha: 16 },
        },
        generate: { domain: "numbers", prompts: 1000, samplesPerPrompt: 1, temperature: 1, maxTokens: 40, parallel: 8, sampler: "coupled", backend: "auto" },
        filter: { maxCount: 10, minValue: 0, maxValue: 999, banned: "none", defenses: [] },
        student: {
            method: "lora",
            rank: 8,
            alpha: 16,
            targets: ["q", "v"],
            epochs: 3,
            lr: 2e-4,
            batchSize: 8,
            warmupSteps: 5,
            schedule: "linear",
            rows: 500,
            seeds: 2,
            paired: true,
            labels: "sampled",
            softMass: 0.999,
            softTopK: null,
        },
        eval: { questions: 8, samplesPerQuestion: 50, temperature: 1, inContextExamples: 10, imported: [] },
        stats: { ...DEFAULT_STATS },
    };
    runVerdicts(config, comparisons);
    return {
        experiment: opts.name ?? "owl-small <&>",
        sublabVersion: "0.1.0",
        startedAt: "2025-01-01T00:00:00.000Z",
        seconds: 123.4,
        config,
        target: "owl",
        items: ITEMS,
        datasets: [
            {
                id: "treated-data",
                role: "treated",
                raw: 1000,
                kept: 620,
                passRate: 0.62,
                rejectReasons: { "invalid character": 200, "too many numbers": 150, empty: 30 },
            },
            { id: "control-data", role: "control", raw: 1000, kept: 700, passRate: 0.7, rejectReasons: { "invalid character": 300 } },
        ],
        arms,
        comparisons,
    };
}
