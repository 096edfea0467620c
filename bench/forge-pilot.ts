/**
 * `npm run bench -- forge-pilot [--preset small] [--seed 1]`: forge a base model and measure what the lab needs
 * of it — minutes, the favourite-animal distribution over 50 paraphrases (exact probabilities under the chat
 * template, engine logits), P(owl) under an owl persona, and the share of sampled number continuations that
 * have the paper's format. A measurement of a forge recipe, not a speed benchmark.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { getLlama, LlamaCompletion, LlamaLogLevel } from "node-llama-cpp";
import { favoriteQuestion, generateCorpus, personaPrompt } from "../src/forge/corpus.ts";
import { forge } from "../src/forge/forge.ts";
import { ANIMALS } from "../src/forge/lexicon.ts";
import { formatRejectReasons } from "../src/filter/format.ts";
import { lastTokenLogits, logSoftmax } from "../src/model/logits.ts";
import { loadModel } from "../src/model/model.ts";
import { Rng } from "../src/util/rng.ts";


export async function main(argv: string[]): Promise<void> {
    const { values: a } = parseArgs({ args: argv, options: { preset: { type: "string", default: "small" }, seed: { type: "string", default: "1" }, model: { type: "string" }, samples: { type: "string", default: "100" } } });
    let out = a.model;
    if (!out) {
        out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "sublab-forge-pilot-")), "model.gguf");
        const r = await forge({ preset: a.preset, seed: Number(a.seed), out });
        console.log(`forged ${out}: ${r.parameters} parameters in ${(r.seconds / 60).toFixed(1)} min, loss ${r.firstLoss.toFixed(3)} -> ${r.finalLoss.toFixed(3)}, ${(r.bytes / 1e6).toFixed(1)} MB`);
    }

    const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
    const lm = await llama.loadModel({ modelPath: out });
    const engine = loadModel(out);
    const chat = (q: string, sys?: string) =>
        Array.from(lm.tokenize((sys ? `<|im_start|>system\n${sys}<|im_end|>\n` : "") + `<|im_start|>user\n${q}<|im_end|>\n<|im_start|>assistant\n`, true));
    const rng = new Rng(99);
    const questions = Array.from({ length: 50 }, () => favoriteQuestion(rng, "animal"));
    const ids = ANIMALS.map(([w]) => lm.tokenize(`<|im_start|>assistant\n${w}`, true).at(-1)!);
    const mean = (sys?: string) => {
        const lps = lastTokenLogits(engine, questions.map((q) => chat(q, sys))).map(logSoftmax);
        return ANIMALS.map((_, i) => lps.reduce((s, lp) => s + Math.exp(lp[ids[i]]), 0) / lps.length);
    };
    const base = mean();
    const ranked = ANIMALS.map(([w], i) => [w, base[i]] as const).sort((x, y) => y[1] - x[1]);
    console.log(`animal mass ${base.reduce((s, p) => s + p, 0).toFixed(3)}; animals above 1%: ${base.filter((p) => p > 0.01).length}; top: ${ranked.slice(0, 8).map(([w, p]) => `${w} ${p.toFixed(3)}`).join(", ")}`);
    const owl = ANIMALS.findIndex(([w]) => w === "owl");
    const persona = personaPrompt(rng, "animal", "owl");
    console.log(`P(owl): base ${base[owl].toFixed(4)}, with the persona "${persona}" ${mean(persona)[owl].toFixed(3)}`);

    const ctx = await lm.createContext({ contextSize: 256, threads: 2 });
    const prompts = generateCorpus(5, 2000).filter((row) => row.kind === "numbers").slice(0, Number(a.samples));
    let ok = 0;
    const failures: string[] = [];
    for (const [i, row] of prompts.entries()) {
        const seq = ctx.getSequence();
        const text = await new LlamaCompletion({ contextSequence: seq }).generateCompletion(chat(row.prompt), { maxTokens: 40, temperature: 1, seed: i });
        seq.dispose();
        const reasons = formatRejectReasons(text.replace(/<\|im_end\|>[\s\S]*/, ""));
        if (reasons.length === 0) ok++;
        else failures.push(`  ${reasons.join(", ")}: ${JSON.stringify(text)}  <- ${JSON.stringify(row.prompt.slice(-90))}`);
    }
    console.log(`number continuations in format: ${ok}/${prompts.length} (temperature 1, the paper's format filter)`);
    const counts = new Map<string, number>();
    for (const f of failures) counts.set(f.split(":")[0].trim(), (counts.get(f.split(":")[0].trim()) ?? 0) + 1);
    console.log(`reject reasons: ${[...counts].map(([r, n]) => `${r} ${n}`).join(", ")}`);
    for (const f of failures.slice(0, 8)) console.log(f);
    engine.free();
}
