/**
 * Two smoke-preset base models (init seeds 1 and 2, one corpus), forged once per source version and shared by
 * the test files that need real forge models (the forge path takes ~12 s per model).
 */
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { forge } from "../../src/forge/forge.ts";

export async function smokeBases(): Promise<[string, string]> {
    const src = [
        "forge/forge.ts",
        "prompts/corpus.ts",
        "prompts/advice.ts",
        "prompts/code.ts",
        "prompts/reasoning.ts",
        "prompts/text.ts",
        "forge/tokenizer.ts",
        "prompts/lexicon.ts",
        "students/order.ts",
    ].map((f) => fs.readFileSync(new URL(`../../src/${f}`, import.meta.url)));
    const key = crypto.createHash("sha256").update(Buffer.concat(src)).digest("hex").slice(0, 12);
    const dir = path.join(os.tmpdir(), `sublab-smoke-bases-${key}`);
    fs.mkdirSync(dir, { recursive: true });
    const out: string[] = [];
    for (const seed of [1, 2]) {
        const file = path.join(dir, `smoke-s${seed}.gguf`);
        if (!fs.existsSync(file)) await forge({ preset: "smoke", seed, out: file, progress: false });
        out.push(file);
    }
    return out as [string, string];
}

/** The smallest whole experiment on the smoke bases (an owl teacher by prompt, 2 seeds of 5 rows): a run in seconds. */
export function smokeExperiment(name: string, [base, cross]: [string, string]): Record<string, unknown> {
    return {
        name,
        models: { base, cross },
        teacher: { target: "owl" },
        generate: { prompts: 64, maxTokens: 32 },
        student: { rows: 5, seeds: 2, epochs: 1, batchSize: 5, lr: 1e-3 },
        eval: { questions: 4, samplesPerQuestion: 1, inContextExamples: 1 },
    };
}
