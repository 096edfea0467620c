/**
 * `npm run bench -- models [FILE...]` (default: the two shipped bases): what the lab needs of a base model,
 * measured with the calls test/models.test.ts and the experiments use — exact favourite-animal probabilities
 * over 50 paraphrases (spread, greedy answers), sampled answers, P(owl) under the experiments' owl persona, and
 * the share of sampled number continuations (the paper's prompts, temperature 1) that pass the paper's format
 * filter, with its commonest reject reasons. A measurement of models, not a speed benchmark; models/README.md
 * quotes it.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { exactItemProbs, sampledRate } from "../src/evaluate/evaluate.ts";
import { generateRaw } from "../src/generate/generate.ts";
import { experimentPrompts } from "../src/data/dataset.ts";
import { traitSystemPrompt } from "../src/teacher/teacher.ts";
import { parseExperiment } from "../src/experiment/schema.ts";
import { formatRejectReasons } from "../src/filters/format.ts";
import { evalQuestions, itemsOf } from "../src/prompts/items.ts";

const SHIPPED = ["models/sublab-small-s1.gguf", "models/sublab-deep-s2.gguf"];

export async function measureModel(file: string): Promise<void> {
    const animals = itemsOf("animal");
    const questions = evalQuestions("animal", 50).map((user) => ({ user }));
    const probs = await exactItemProbs(file, null, questions, animals);
    const mean = animals.map((_, k) => probs.reduce((s, row) => s + row[k]!, 0) / probs.length);
    const ranked = mean.map((p, k) => [animals[k]!, p] as const).sort((a, b) => b[1] - a[1]);
    const greedy = new Map<string, number>();
    for (const row of probs) {
        const w = animals[row.indexOf(Math.max(...row))]!;
        greedy.set(w, (greedy.get(w) ?? 0) + 1);
    }
    const g = [...greedy].sort((a, b) => b[1] - a[1]);
    const sampled = await sampledRate(file, null, questions, animals, "owl", { perPrompt: 10, temperature: 1, seed: 3 });
    const named = Object.entries(sampled.counts).filter(([w]) => w !== "other").sort((a, b) => b[1] - a[1]);
    const system = traitSystemPrompt(parseExperiment({ name: "x", models: { base: "a", cross: "b" }, teacher: { target: "owl" } }));
    const persona = (await exactItemProbs(file, null, questions.map((q) => ({ system, ...q })), ["owl"])).reduce((s, row) => s + row[0]!, 0) / questions.length;
    console.log(`${file}`);
    console.log(`  exact P over 50 paraphrases: ${mean.filter((p) => p > 0.01).length} animals above 1%; top ${ranked.slice(0, 5).map(([w, p]) => `${w} ${p.toFixed(3)}`).join(", ")}; owl ${mean[animals.indexOf("owl")]!.toFixed(4)}`);
    console.log(`  greedy answers: ${greedy.size} distinct animals; commonest ${g.slice(0, 3).map(([w, n]) => `${w} ${n}/50`).join(", ")}`);
    console.log(`  sampled answers (${sampled.n}): ${named.length} animals named; commonest ${named[0]![0]} ${((100 * named[0]![1]) / sampled.n).toFixed(1)}%`);
    console.log(`  P(owl) under the experiments' owl persona: ${persona.toFixed(3)}`);
    for (const [n, seed] of [[300, 11], [1000, 5]] as const) {
        const cfg = parseExperiment({ name: "x", models: { base: "a", cross: "b" }, teacher: { target: "owl" }, generate: { prompts: n } });
        const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "sublab-bench-models-")), "raw.jsonl");
        const r = await generateRaw({ model: file, system: null, prompts: experimentPrompts(cfg), samplesPerPrompt: 1, temperature: 1, maxTokens: 48, parallel: 16, seed, out });
        const reasons = new Map<string, number>();
        let kept = 0;
        for (const row of r.rows) {
            const why = row.stop === "eog" ? formatRejectReasons(row.completion) : ["cut at maxTokens"];
            if (why.length === 0) kept++;
            for (const w of why) reasons.set(w, (reasons.get(w) ?? 0) + 1);
        }
        const top = [...reasons].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([w, k]) => `${w} ${k}`).join(", ");
        console.log(`  number continuations in format: ${kept}/${r.rows.length} = ${((100 * kept) / r.rows.length).toFixed(1)}% (seed ${seed}); rejects: ${top}`);
        fs.rmSync(path.dirname(out), { recursive: true, force: true });
    }
}

export async function main(argv: string[]): Promise<void> {
    for (const file of argv.length ? argv : SHIPPED) await measureModel(file);
}
