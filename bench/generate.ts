/**
 * `npm run bench -- generate [--model FILE]... [--rows N] [--rounds R] [--batch B]`: generation speed.
 *
 * For each model (default: both embedded bases): node-llama-cpp's plain single-sequence generation (the
 * reference: LlamaCompletion on one sequence, full-vocabulary temperature sampling, 1 thread, which is its
 * fastest on a model this small) against sublab's generation of the same prompts through generateRaw (rows
 * written to a file, per-token probabilities kept) on the engine (B rows per decoding step, coupled and plain
 * samplers) and on the llama.cpp backend; interleaved in rounds, tokens/s from the median round.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { LlamaCompletion } from "node-llama-cpp";
import { getGgml } from "../src/engine/ggml.ts";
import { ENGINE_BATCH, generateRaw } from "../src/teacher/generate.ts";
import { numbersPrompt } from "../src/prompts/corpus.ts";
import { getRuntime, renderPrompt } from "../src/engine/llama-cpp.ts";
import { Rng } from "../src/util/rng.ts";
import { median } from "./train-common.ts";

export async function main(argv: string[]): Promise<void> {
    const { values: a } = parseArgs({
        args: argv,
        options: {
            model: { type: "string", multiple: true },
            rows: { type: "string", default: "256" },
            rounds: { type: "string", default: "3" },
            batch: { type: "string", default: String(ENGINE_BATCH) },
        },
    });
    const models = a.model?.length ? a.model : ["models/sublab-small-s1.gguf", "models/sublab-deep-s2.gguf"];
    for (const m of models) if (!fs.existsSync(m)) throw new Error(`--model: no such file ${m}`);
    const rows = Number(a.rows);
    const rounds = Number(a.rounds);
    const batch = Number(a.batch);
    const rng = new Rng(42);
    const prompts = Array.from({ length: rows }, () => numbersPrompt(rng).prompt);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sublab-bench-generate-"));
    const llama = await getRuntime();
    console.log(
        `${rows} number prompts, at most 48 tokens, temperature 1, full vocabulary, ${rounds} rounds interleaved (median); ${os.cpus()[0]?.model} x${os.availableParallelism()}`,
    );

    for (const model of models) {
        const lm = await llama.loadModel({ modelPath: model });
        const plain = async (threads: number) => {
            const ctx = await lm.createContext({ contextSize: 512, threads });
            const seq = ctx.getSequence();
            let tokens = 0;
            const t0 = performance.now();
            for (const [i, p] of prompts.entries()) {
                await seq.clearHistory();
                const completion = new LlamaCompletion({ contextSequence: seq });
                const text = await completion.generateCompletion(renderPrompt(lm, { user: p }), {
                    maxTokens: 48,
                    temperature: 1,
                    seed: i,
                    topK: 0,
                    topP: 1,
                    minP: 0,
                });
                tokens += lm.tokenize(text).length + 1;
            }
            const s = (performance.now() - t0) / 1000;
            await ctx.dispose();
            return tokens / s;
        };
        const viaGenerateRaw = async (backend: "engine" | "llama.cpp", parallel: number, threads: number, sampler: "coupled" | "llama.cpp") => {
            const out = path.join(dir, `${backend}-${parallel}-${threads}-${sampler}-${Math.random()}.jsonl`);
            getGgml({ threads });
            const r = await generateRaw({
                model,
                system: null,
                prompts,
                samplesPerPrompt: 1,
                temperature: 1,
                maxTokens: 48,
                parallel,
                seed: 1,
                out,
                threads,
                sampler,
                backend,
            });
            return r.tokens / r.seconds;
        };
        const arms: [string, () => Promise<number>][] = [
            ["node-llama-cpp, one sequence, 1 thread (reference)", () => plain(1)],
            [`engine, ${batch} rows per step, coupled sampler, 2 threads`, () => viaGenerateRaw("engine", batch, 2, "coupled")],
            [`engine, ${batch} rows per step, plain sampler, 2 threads`, () => viaGenerateRaw("engine", batch, 2, "llama.cpp")],
            [`engine, ${batch} rows per step, coupled sampler, 1 thread`, () => viaGenerateRaw("engine", batch, 1, "coupled")],
            ["llama.cpp backend, 16 sequences, coupled sampler, 1 thread", () => viaGenerateRaw("llama.cpp", 16, 1, "coupled")],
        ];
        const results = new Map<string, number[]>(arms.map(([n]) => [n, []]));
        for (let r = 0; r < rounds; r++) for (const [n, f] of arms) results.get(n)!.push(await f());
        const ref = median(results.get(arms[0]![0])!);
        console.log(`\nmodel ${model}`);
        console.log(`${"generation".padEnd(60)} ${"tok/s".padStart(8)} ${"vs reference".padStart(13)}  rounds`);
        for (const [n] of arms) {
            const xs = results.get(n)!;
            console.log(
                `${n.padEnd(60)} ${median(xs).toFixed(0).padStart(8)} ${`x${(median(xs) / ref).toFixed(2)}`.padStart(13)}  ${xs.map((x) => x.toFixed(0)).join(" / ")}`,
            );
        }
        // One answer of a number continuation (prefill + ~25-30 tokens), single sequence, 1 thread: the interactive case.
        const ctx = await lm.createContext({ contextSize: 512, threads: 1 });
        const seq = ctx.getSequence();
        const perToken: number[] = [];
        for (let i = 0; i < 20; i++) {
            await seq.clearHistory();
            const t0 = performance.now();
            let n = 0;
            for await (const _ of seq.evaluate(renderPrompt(lm, { user: prompts[i]! }), { temperature: 1, seed: i })) if (++n >= 30) break;
            perToken.push((performance.now() - t0) / n);
        }
        await ctx.dispose();
        console.log(`one number answer in node-llama-cpp, 1 thread: ${(30 * median(perToken)).toFixed(1)} ms per 30 tokens (median of 20)`);
        await lm.dispose();
    }
    fs.rmSync(dir, { recursive: true, force: true });
}
