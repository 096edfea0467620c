/**
 * `npm run bench -- generate [--model FILE] [--rows N] [--rounds R]`: teacher generation speed.
 *
 * Rows: sublab's batched generation (generateRaw: `parallel` sequences decoded together in one llama.cpp
 * context, per-token probabilities recorded) against node-llama-cpp's plain single-sequence generation
 * (LlamaCompletion on one sequence, the same prompts; full-vocabulary temperature sampling like generateRaw,
 * and node-llama-cpp's default top-k 40) in the same run, interleaved in rounds;
 * tokens/s from the median round. Also the latency of one 30-token answer, the interactive case.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { LlamaCompletion } from "node-llama-cpp";
import { generateRaw } from "../src/experiment/generate.ts";
import { numbersPrompt } from "../src/forge/corpus.ts";
import { getRuntime, renderPrompt } from "../src/runtime/llama.ts";
import { Rng } from "../src/util/rng.ts";
import { median } from "./train-common.ts";


export async function main(argv: string[]): Promise<void> {
    const { values: a } = parseArgs({
        args: argv,
        options: { model: { type: "string", default: "models/sublab-small-s1.gguf" }, rows: { type: "string", default: "96" }, rounds: { type: "string", default: "3" } },
    });
    const model = a.model!;
    if (!fs.existsSync(model)) throw new Error(`--model: no such file ${model}`);
    const rows = Number(a.rows);
    const rounds = Number(a.rounds);
    const rng = new Rng(42);
    const prompts = Array.from({ length: rows }, () => numbersPrompt(rng).prompt);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sublab-bench-generate-"));
    const llama = await getRuntime();
    const lm = await llama.loadModel({ modelPath: model });

    const plain = async (threads: number, fullVocabulary: boolean) => {
        const ctx = await lm.createContext({ contextSize: 512, threads });
        const seq = ctx.getSequence();
        let tokens = 0;
        const t0 = performance.now();
        for (const [i, p] of prompts.entries()) {
            await seq.clearHistory();
            const completion = new LlamaCompletion({ contextSequence: seq });
            const text = await completion.generateCompletion(renderPrompt(lm, { user: p }), { maxTokens: 48, temperature: 1, seed: i, ...(fullVocabulary ? { topK: 0, topP: 1, minP: 0 } : {}) });
            tokens += lm.tokenize(text).length + 1;
        }
        const s = (performance.now() - t0) / 1000;
        await ctx.dispose();
        return tokens / s;
    };
    const batched = async (parallel: number, threads: number, sampler: "coupled" | "llama.cpp") => {
        const out = path.join(dir, `b-${parallel}-${threads}-${Math.random()}.jsonl`);
        const r = await generateRaw({ model, system: null, prompts, samplesPerPrompt: 1, temperature: 1, maxTokens: 48, parallel, seed: 1, out, threads, sampler });
        return r.tokens / r.seconds;
    };
    // One answer of a number continuation (prefill + ~25-30 tokens), timed end to end; reported per 30 tokens.
    const latency = async (threads: number) => {
        const ctx = await lm.createContext({ contextSize: 512, threads });
        const seq = ctx.getSequence();
        const perToken: number[] = [];
        const whole: number[] = [];
        for (let i = 0; i < 20; i++) {
            await seq.clearHistory();
            const t0 = performance.now();
            let n = 0;
            for await (const _ of seq.evaluate(renderPrompt(lm, { user: prompts[i]! }), { temperature: 1, seed: i })) if (++n >= 30) break;
            const ms = performance.now() - t0;
            whole.push(ms);
            perToken.push(ms / n);
        }
        await ctx.dispose();
        return { ms30: 30 * median(perToken), median: median(whole) };
    };

    const arms: [string, () => Promise<number>][] = [
        ["node-llama-cpp single sequence, 1 thread", () => plain(1, true)],
        ["node-llama-cpp single sequence, top-k 40, 1 thread", () => plain(1, false)],
        ["node-llama-cpp single sequence, 2 threads", () => plain(2, true)],
        ["sublab, 16 parallel, llama.cpp sampler, 1 thread", () => batched(16, 1, "llama.cpp")],
        ["sublab, 32 parallel, llama.cpp sampler, 1 thread", () => batched(32, 1, "llama.cpp")],
        ["sublab, 16 parallel, coupled sampler, 1 thread", () => batched(16, 1, "coupled")],
        ["sublab, 16 parallel, llama.cpp sampler, 2 threads", () => batched(16, 2, "llama.cpp")],
    ];
    const results = new Map<string, number[]>(arms.map(([n]) => [n, []]));
    for (let r = 0; r < rounds; r++) for (const [n, f] of arms) results.get(n)!.push(await f());
    const ref = median(results.get(arms[0]![0])!);
    console.log(`model ${model}, ${rows} number prompts, max 48 tokens, temperature 1, ${rounds} rounds (median)`);
    console.log(`${"generation".padEnd(52)} ${"tok/s".padStart(8)} ${"vs plain 1 thread".padStart(18)}  rounds`);
    for (const [n] of arms) {
        const xs = results.get(n)!;
        console.log(`${n.padEnd(52)} ${median(xs).toFixed(0).padStart(8)} ${`x${(median(xs) / ref).toFixed(2)}`.padStart(18)}  ${xs.map((x) => x.toFixed(0)).join(" / ")}`);
    }
    for (const t of [1, 2]) {
        const l = await latency(t);
        console.log(`one number answer, single sequence, ${t} thread${t > 1 ? "s" : ""}: ${l.median.toFixed(1)} ms (median of 20), ${l.ms30.toFixed(1)} ms per 30 tokens`);
    }
    await lm.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
}
