/**
 * The engine's self-test, `sublab selftest`: make a tiny Llama from scratch, train it on a small built-in
 * text through the same path as `sublab train`, save it as GGUF, and let node-llama-cpp complete a prompt
 * from it. Shows on a new machine that the native libraries, training and the GGUF round trip all work.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { getGgml } from "../engine/ggml.ts";
import { createModel } from "../engine/model.ts";
import { makeSpmVocab } from "../engine/vocab.ts";
import { llamaModule } from "../engine/llama-cpp.ts";
import { runTrainJob } from "./train-job.ts";

const TEXT = [
    "the owl flies at night and eats mice",
    "the cat sleeps all day in the sun",
    "the dog runs in the park with a ball",
    "the eagle builds a nest on the cliff",
];

export interface SelfTestResult {
    firstLoss: number;
    finalLoss: number;
    steps: number;
    tokensPerSecond: number;
    prompt: string;
    completion: string;
    expected: string;
    backend: string;
    ok: boolean;
}

export async function runSelfTest(opts: { threads?: number; dir?: string; progress?: boolean } = {}): Promise<SelfTestResult> {
    const g = getGgml({ threads: opts.threads });
    const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), "sublab-selftest-"));
    const words = [...new Set(TEXT.join(" ").split(" "))].map((w) => `\u2581${w}`);
    const vocab = makeSpmVocab(words);
    const base = createModel({ vocabSize: vocab.tokens.length, dModel: 64, nLayers: 2, nHeads: 4, dFF: 128, contextLength: 64 }, 1, vocab.metadata);
    const basePath = path.join(dir, "base.gguf");
    base.save(basePath, { name: "sublab-selftest" });
    base.free();
    const data = path.join(dir, "text.jsonl");
    fs.writeFileSync(data, TEXT.flatMap((t) => Array(8).fill(JSON.stringify({ text: t }))).join("\n") + "\n");
    const out = path.join(dir, "trained.gguf");
    const r = await runTrainJob({
        model: basePath,
        data,
        out,
        mode: "full",
        loraRank: 0,
        loraAlpha: 0,
        loraTargets: [],
        epochs: 50,
        lr: 3e-3,
        batchSize: 8,
        seed: 1,
        threads: opts.threads,
        progress: opts.progress,
    });
    const { getLlama, LlamaCompletion, LlamaLogLevel } = await llamaModule();
    const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
    const model = await llama.loadModel({ modelPath: out });
    const ctx = await model.createContext({ contextSize: 64, threads: g.threads });
    const prompt = "the eagle";
    const completion = (await new LlamaCompletion({ contextSequence: ctx.getSequence() }).generateCompletion(prompt, { maxTokens: 16, temperature: 0 })).trim();
    await ctx.dispose();
    await model.dispose();
    const expected = TEXT[3].slice(prompt.length).trim();
    return {
        firstLoss: r.firstLoss,
        finalLoss: r.finalLoss,
        steps: r.steps,
        tokensPerSecond: r.tokensPerSecond,
        prompt,
        completion,
        expected,
        backend: `${g.deviceDescription}, ${g.threads} threads`,
        ok: completion === expected && r.finalLoss < r.firstLoss / 5,
    };
}
