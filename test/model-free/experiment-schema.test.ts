import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadChain } from "../../src/studies/chain.ts";
import { loadPopulation } from "../../src/studies/population-file.ts";
import { loadStudy } from "../../src/studies/study.ts";
import { loadSweep } from "../../src/studies/sweep.ts";
import { studyFileKind } from "../../src/studies/cache-gc.ts";
import { readJsonFile } from "../../src/util/files.ts";
import { loadExperiment, parseExperiment } from "../../src/studies/experiment-file.ts";
import type { ExperimentConfig } from "../../src/core/types.ts";
import { ALL_LORA_TARGETS } from "../../src/engine/model-config.ts";

const minimal = () => ({ name: "owl-1", models: { base: "models/a.gguf", cross: "models/b.gguf" }, teacher: { target: "owl" } });

/** `minimal()` with `patch` merged in one level deep (sections are merged, not replaced). */
function withPatch(patch: Record<string, unknown>): Record<string, unknown> {
    const base: Record<string, unknown> = minimal();
    for (const [k, v] of Object.entries(patch)) {
        const old = base[k];
        base[k] = typeof v === "object" && v !== null && !Array.isArray(v) && typeof old === "object" ? { ...old, ...v } : v;
    }
    return base;
}

function errorOf(json: unknown, source?: string): string {
    try {
        parseExperiment(json, source);
    } catch (e) {
        return (e as Error).message;
    }
    throw new Error("expected parseExperiment to throw");
}

describe("parseExperiment", () => {
    it("fills every default of a minimal file", () => {
        const expected: ExperimentConfig = {
            name: "owl-1",
            description: "",
            seed: 42,
            models: { base: "models/a.gguf", cross: "models/b.gguf" },
            teacher: {
                trait: "prompt",
                target: "owl",
                category: "animal",
                systemPrompt: null,
                onnx: null,
                server: null,
                finetune: { rows: 1000, epochs: 2, lr: 1e-3, method: "full", rank: 8, alpha: 8 },
            },
            generate: {
                domain: "numbers",
                prompts: 3000,
                samplesPerPrompt: 1,
                temperature: 1,
                maxTokens: 48,
                parallel: 128,
                sampler: "coupled",
                backend: "auto",
            },
            filter: { maxCount: 10, minValue: 0, maxValue: 999, banned: "none", defenses: [] },
            student: {
                method: "lora",
                rank: 8,
                alpha: 8,
                targets: [...ALL_LORA_TARGETS],
                epochs: 3,
                lr: 2e-4,
                batchSize: 16,
                warmupSteps: 5,
                schedule: "linear",
                rows: 1000,
                seeds: 3,
                paired: true,
                labels: "sampled",
                softMass: 0.999,
                softTopK: null,
            },
            eval: { questions: 50, samplesPerQuestion: 20, temperature: 1, inContextExamples: 2, imported: [] },
            stats: { alpha: 0.05, margin: 1.1 },
        };
        expect(parseExperiment(minimal())).toEqual(expected);
    });

    it("does not share the default targets array between results", () => {
        const a = parseExperiment(minimal());
        a.student.targets.pop();
        expect(parseExperiment(minimal()).student.targets).toEqual(ALL_LORA_TARGETS);
        expect(ALL_LORA_TARGETS.length).toBe(7);
    });

    const lrCases: [Record<string, unknown>, number][] = [
        [{}, 2e-4],
        [{ method: "lora" }, 2e-4],
        [{ method: "full" }, 1e-4],
        [{ method: "full", lr: 3e-5 }, 3e-5],
        [{ method: "lora", lr: 0.01 }, 0.01],
    ];
    it.each(lrCases)("student %j gets lr %f", (student, lr) => {
        expect(parseExperiment(withPatch({ student })).student.lr).toBe(lr);
    });

    it.each([
        ["numbers", 48],
        ["code", 64],
        ["reasoning", 48],
        ["text", 96],
    ])("generate.domain %s defaults maxTokens to %i (a given maxTokens wins)", (domain, maxTokens) => {
        expect(parseExperiment(withPatch({ generate: { domain } })).generate.maxTokens).toBe(maxTokens);
        expect(parseExperiment(withPatch({ generate: { domain, maxTokens: 7 } })).generate.maxTokens).toBe(7);
    });

    it("accepts every category with its own items, and both banned forms", () => {
        expect(parseExperiment(withPatch({ teacher: { category: "tree", target: "oak" } })).teacher.target).toBe("oak");
        expect(parseExperiment(withPatch({ teacher: { category: "colour", target: "blue" } })).teacher.category).toBe("colour");
        expect(parseExperiment(withPatch({ filter: { banned: "paper" } })).filter.banned).toBe("paper");
        expect(parseExperiment(withPatch({ filter: { banned: [4, 13] } })).filter.banned).toEqual([4, 13]);
        expect(parseExperiment(withPatch({ teacher: { systemPrompt: "You love owls." } })).teacher.systemPrompt).toBe("You love owls.");
    });

    const errors: [string, unknown, string][] = [
        ["not an object", [1, 2], "expected an object, got an array"],
        [
            "unknown top-level key",
            withPatch({ colour: "red" }),
            "colour: unknown key (known: name, description, seed, models, teacher, generate, filter, student, safety, eval, stats)",
        ],
        [
            "unknown nested key",
            withPatch({ teacher: { colour: "red" } }),
            "teacher.colour: unknown key (known: trait, target, category, systemPrompt, onnx, server, finetune)",
        ],
        [
            "unknown key two levels down",
            withPatch({ teacher: { finetune: { steps: 3 } } }),
            "teacher.finetune.steps: unknown key (known: rows, epochs, lr, method, rank, alpha, topic)",
        ],
        ["missing required key", { name: "x", teacher: { target: "owl" } }, "models: missing, expected an object"],
        ["missing nested required key", withPatch({ models: { base: "a", cross: undefined } }), "models.cross: missing, expected a non-empty string"],
        ["missing target", withPatch({ teacher: { target: undefined } }), "teacher.target: missing, expected a non-empty string"],
        ["empty path", withPatch({ models: { cross: "" } }), 'models.cross: expected a non-empty string, got ""'],
        [
            "bad name",
            withPatch({ name: "Owl Run" }),
            'name: expected a name of lowercase letters, digits and dashes (starting with a letter or digit), got "Owl Run"',
        ],
        ["name with a leading dash", withPatch({ name: "-x" }), "name: expected a name of lowercase letters"],
        ["integer as a string", withPatch({ seed: "42" }), 'seed: expected an integer >= 0, got "42"'],
        ["fractional integer", withPatch({ student: { epochs: 2.5 } }), "student.epochs: expected an integer >= 1, got 2.5"],
        ["integer below range", withPatch({ student: { rank: 0 } }), "student.rank: expected an integer >= 1, got 0"],
        ["integer above range", withPatch({ generate: { maxTokens: 257 } }), "generate.maxTokens: expected an integer from 1 to 256, got 257"],
        [
            "unknown domain",
            withPatch({ generate: { domain: "poems" } }),
            'generate.domain: expected one of "numbers", "code", "reasoning", "text", got "poems"',
        ],
        ["seeds above range", withPatch({ student: { seeds: 101 } }), "student.seeds: expected an integer from 1 to 100, got 101"],
        ["number of the wrong type", withPatch({ generate: { temperature: "hot" } }), 'generate.temperature: expected a number > 0, got "hot"'],
        ["number not above its bound", withPatch({ eval: { temperature: 0 } }), "eval.temperature: expected a number > 0, got 0"],
        ["NaN", withPatch({ student: { lr: NaN } }), "student.lr: expected a number > 0, got NaN"],
        ["null where a number goes", withPatch({ student: { alpha: null } }), "student.alpha: expected a number > 0, got null"],
        ["section of the wrong type", withPatch({ generate: 5 }), "generate: expected an object, got 5"],
        ["bad enum", withPatch({ student: { schedule: "step" } }), 'student.schedule: expected one of "linear", "cosine", "constant", got "step"'],
        [
            "bad category",
            withPatch({ teacher: { category: "fish" } }),
            'teacher.category: expected one of "animal", "tree", "colour", "misalignment", got "fish"',
        ],
        [
            "bad target for the category",
            withPatch({ teacher: { category: "tree", target: "owl" } }),
            'teacher.target: expected one of the tree items (oak, pine, maple, willow, birch, cedar, cherry, palm, redwood, elm, ash, sequoia), got "owl"',
        ],
        ["bad target for the default category", withPatch({ teacher: { target: "unicorn" } }), "teacher.target: expected one of the animal items (dog, cat,"],
        ["systemPrompt of the wrong type", withPatch({ teacher: { systemPrompt: 3 } }), "teacher.systemPrompt: expected a string or null, got 3"],
        [
            "bad array element",
            withPatch({ student: { targets: ["q", "k", "attn"] } }),
            'student.targets[2]: expected one of "q", "k", "v", "o", "gate", "up", "down", got "attn"',
        ],
        [
            "duplicate array element",
            withPatch({ student: { targets: ["q", "v", "q"] } }),
            'student.targets[2]: expected distinct items, got "q" again (first at [0])',
        ],
        ["empty array", withPatch({ student: { targets: [] } }), "student.targets: expected a non-empty array of distinct items, each one of"],
        [
            "array of the wrong type",
            withPatch({ student: { targets: "q" } }),
            'student.targets: expected a non-empty array of distinct items, each one of "q", "k", "v", "o", "gate", "up", "down", got "q"',
        ],
        ["bad banned element", withPatch({ filter: { banned: [4, "13"] } }), 'filter.banned[1]: expected an integer, got "13"'],
        ["bad banned word", withPatch({ filter: { banned: "all" } }), 'filter.banned: expected one of "none", "paper", got "all"'],
        [
            "banned of the wrong type",
            withPatch({ filter: { banned: true } }),
            'filter.banned: expected one of "none", "paper", or an array of items, each an integer, got true',
        ],
        [
            "minValue above maxValue",
            withPatch({ filter: { minValue: 500, maxValue: 100 } }),
            "filter.minValue: expected at most filter.maxValue (100), got 500",
        ],
        ["minValue above the default maxValue", withPatch({ filter: { minValue: 1000 } }), "filter.minValue: expected at most filter.maxValue (999), got 1000"],
        ["a dose above 1", withPatch({ student: { mix: 1.5 } }), "student.mix: expected a share from 0 to 1, got 1.5"],
        [
            "a dose of unpaired rows",
            withPatch({ student: { mix: 0.5, paired: false } }),
            "student.mix: mixing the teacher's rows into the control's takes paired rows (the same prompts); set student.paired to true",
        ],
    ];
    it.each(errors)("reports %s with its path and expectation", (_, json, message) => {
        const error = errorOf(json, "experiments/x.json");
        expect(error).toContain(`experiments/x.json: ${message}`);
        expect(error.split("\n")).toHaveLength(1);
    });

    it("prefixes nothing without a source", () => {
        expect(errorOf(withPatch({ student: { rank: 0 } }))).toBe("student.rank: expected an integer >= 1, got 0");
    });

    it("reports every error at once, one a line, after a count", () => {
        const json = withPatch({
            name: "Bad",
            extra: 1,
            teacher: { target: "owl", category: "tree" },
            generate: { parallel: 1025 },
            filter: { minValue: 10, maxValue: 5, maxCount: 0 },
            student: { targets: ["q", 7], rank: -1 },
            eval: { questions: 0 },
        });
        expect(errorOf(json, "e.json").split("\n")).toEqual([
            "9 errors in e.json:",
            "  e.json: extra: unknown key (known: name, description, seed, models, teacher, generate, filter, student, safety, eval, stats)",
            '  e.json: name: expected a name of lowercase letters, digits and dashes (starting with a letter or digit), got "Bad"',
            '  e.json: teacher.target: expected one of the tree items (oak, pine, maple, willow, birch, cedar, cherry, palm, redwood, elm, ash, sequoia), got "owl"',
            "  e.json: generate.parallel: expected an integer from 1 to 1024, got 1025",
            "  e.json: filter.maxCount: expected an integer >= 1, got 0",
            "  e.json: filter.minValue: expected at most filter.maxValue (5), got 10",
            "  e.json: student.rank: expected an integer >= 1, got -1",
            '  e.json: student.targets[1]: expected one of "q", "k", "v", "o", "gate", "up", "down", got 7',
            "  e.json: eval.questions: expected an integer from 1 to 1000, got 0",
        ]);
    });
});

describe("loadExperiment", () => {
    const dir = mkdtempSync(join(tmpdir(), "sublab-schema-"));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it("names the file, line and column of invalid JSON", () => {
        const file = join(dir, "broken.json");
        writeFileSync(file, '{\n    "name": "x",\n    "seed": 42,\n}\n');
        expect(() => loadExperiment(file)).toThrow(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: invalid JSON: .*line 4 column 1`));
    });

    it("names the file in schema errors", () => {
        const file = join(dir, "bad.json");
        writeFileSync(file, JSON.stringify(withPatch({ student: { rank: 0 } })));
        expect(() => loadExperiment(file)).toThrow(`${file}: student.rank: expected an integer >= 1, got 0`);
    });

    it("round-trips a full file unchanged", () => {
        const full: ExperimentConfig = {
            name: "tree-cross-7",
            description: "Oak via a fine-tuned teacher.",
            seed: 7,
            models: { base: "models/base.gguf", cross: "models/cross.gguf" },
            teacher: {
                trait: "finetune",
                target: "oak",
                category: "tree",
                systemPrompt: "You love oak trees.",
                onnx: null,
                server: null,
                finetune: { rows: 500, epochs: 4, lr: 5e-4, method: "lora", rank: 16, alpha: 32 },
            },
            generate: {
                domain: "numbers",
                prompts: 100,
                samplesPerPrompt: 2,
                temperature: 0.7,
                maxTokens: 256,
                parallel: 64,
                sampler: "coupled",
                backend: "auto",
            },
            filter: { maxCount: 8, minValue: 1, maxValue: 500, banned: [4, 13, 666], defenses: ["threshold:p=0.01", "dedupe"] },
            student: {
                method: "full",
                rank: 4,
                alpha: 4,
                targets: ["q", "v"],
                epochs: 1,
                lr: 5e-5,
                batchSize: 8,
                warmupSteps: 0,
                schedule: "cosine",
                rows: 200,
                seeds: 5,
                paired: true,
                labels: "sampled",
                softMass: 0.999,
                softTopK: null,
            },
            eval: { questions: 1000, samplesPerQuestion: 0, temperature: 0.5, inContextExamples: 0, imported: [] },
            stats: { alpha: 0.01, margin: 1.25 },
        };
        const file = join(dir, "full.json");
        writeFileSync(file, JSON.stringify(full, null, 4));
        const loaded = loadExperiment(file);
        expect(loaded).toEqual(full);
        expect(parseExperiment(JSON.parse(JSON.stringify(loaded)))).toEqual(full);
    });
});

describe("the shipped experiment files", () => {
    const dir = join(import.meta.dirname, "..", "..", "experiments");
    const loaders = { experiment: loadExperiment, sweep: loadSweep, chain: loadChain, population: loadPopulation, study: loadStudy };
    it.each(readdirSync(dir).filter((f) => f.endsWith(".json")))("%s parses as its kind", (f) => {
        const file = join(dir, f);
        const kind = studyFileKind(readJsonFile(file));
        expect(() => loaders[kind](file), kind).not.toThrow();
    });

    it.each([
        ["owl-code.json", "code"],
        ["owl-reasoning.json", "reasoning"],
        ["owl-text.json", "text"],
        ["violence-reasoning.json", "reasoning"],
        ["violence-text.json", "text"],
    ])("%s writes %s", (f, domain) => {
        expect(loadExperiment(join(dir, f)).generate.domain).toBe(domain);
    });
});
