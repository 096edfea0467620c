/**
 * `npm run bench -- real-size [--shape qwen2.5-0.5b] [--tokens 64] [--batch 4] [--steps 3] [--threads 2]`:
 * what a real-size model costs here, measured on a model of that shape with random weights (none can be
 * downloaded on this machine; speed and memory do not depend on the weights' values):
 *   - one LoRA training step of the paper's recipe (r=8, alpha=8 on all seven projections) by the engine:
 *     median step time, tokens/s, and peak RSS;
 *   - the same model as an f16 GGUF in node-llama-cpp: prefill and generation tokens/s.
 * Then the estimated time of the paper's student (10,000 rows x ~30 tokens x 3 epochs) at those speeds, and the
 * matmul rate the step reached (4 FLOPs per weight per token), the figure to scale by for other hardware.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { GGMLType } from "../src/engine/gguf.ts";
import { getGgml } from "../src/engine/ggml.ts";
import { ALL_LORA_TARGETS } from "../src/engine/model-config.ts";
import { createModel } from "../src/engine/model.ts";
import { makeSpmVocab } from "../src/engine/vocab.ts";
import type { Token } from "node-llama-cpp";
import { getRuntime } from "../src/engine/llama-cpp.ts";
import { train } from "../src/students/trainer.ts";
import { Rng } from "../src/util/rng.ts";
import { median } from "./train-common.ts";

const SHAPES = {
    // Qwen2.5-0.5B-Instruct's config: hidden 896, 24 layers, 14 heads, 2 KV heads, intermediate 4864, vocab 151,936, tied embeddings.
    "qwen2.5-0.5b": {
        arch: "qwen2" as const,
        dModel: 896,
        nLayers: 24,
        nHeads: 14,
        nKvHeads: 2,
        dFF: 4864,
        vocabSize: 151936,
        tiedEmbeddings: true,
        ropeTheta: 1000000,
        rmsEps: 1e-6,
    },
    // SmolLM2-135M-Instruct's config: hidden 576, 30 layers, 9 heads, 3 KV heads, intermediate 1536, vocab 49,152, tied.
    "smollm2-135m": {
        arch: "llama" as const,
        dModel: 576,
        nLayers: 30,
        nHeads: 9,
        nKvHeads: 3,
        dFF: 1536,
        vocabSize: 49152,
        tiedEmbeddings: true,
        ropeTheta: 100000,
        rmsEps: 1e-5,
    },
    // Llama-3.2-1B-Instruct's config: hidden 2048, 16 layers, 32 heads, 8 KV heads, intermediate 8192, vocab 128,256, tied,
    // rope theta 500,000 with "llama3" scaling (factor 32, low 1, high 4, original context 8,192) as rope_freqs.
    "llama3.2-1b": {
        arch: "llama" as const,
        dModel: 2048,
        nLayers: 16,
        nHeads: 32,
        nKvHeads: 8,
        dFF: 8192,
        vocabSize: 128256,
        tiedEmbeddings: true,
        ropeTheta: 500000,
        rmsEps: 1e-5,
        ropeFreqs: llama3RopeFreqs(64, 500000, { factor: 32, low: 1, high: 4, originalContext: 8192 }),
    },
    // Gemma-3-270M-it's config: hidden 640, 18 layers, 4 heads, 1 KV head of 256, intermediate 2048, vocab 262,144, tied,
    // sliding window 512 on 5 of every 6 layers (local RoPE base 10,000, global 1,000,000).
    "gemma3-270m": {
        arch: "gemma3" as const,
        dModel: 640,
        nLayers: 18,
        nHeads: 4,
        nKvHeads: 1,
        headDim: 256,
        dFF: 2048,
        vocabSize: 262144,
        tiedEmbeddings: true,
        ropeTheta: 1000000,
        rmsEps: 1e-6,
        slidingWindow: 512,
        slidingWindowPattern: 6,
        ropeThetaSwa: 10000,
    },
};

/** The frequency factors llama.cpp's converter writes for Llama 3.1+'s "llama3" RoPE scaling (rope_freqs.weight). */
function llama3RopeFreqs(headDim: number, theta: number, s: { factor: number; low: number; high: number; originalContext: number }): number[] {
    const out: number[] = [];
    for (let i = 0; i < headDim; i += 2) {
        const wavelen = (2 * Math.PI) / (1 / theta ** (i / headDim));
        if (wavelen < s.originalContext / s.high) out.push(1);
        else if (wavelen > s.originalContext / s.low) out.push(s.factor);
        else {
            const smooth = (s.originalContext / wavelen - s.low) / (s.high - s.low);
            out.push(1 / ((1 - smooth) / s.factor + smooth));
        }
    }
    return out;
}

export async function main(argv: string[]): Promise<void> {
    const { values: a } = parseArgs({
        args: argv,
        options: {
            shape: { type: "string", default: "qwen2.5-0.5b" },
            tokens: { type: "string", default: "64" },
            batch: { type: "string", default: "4" },
            steps: { type: "string", default: "3" },
            threads: { type: "string", default: "2" },
        },
    });
    const shape = SHAPES[a.shape as keyof typeof SHAPES];
    if (!shape) throw new Error(`--shape: one of ${Object.keys(SHAPES).join(", ")}`);
    const T = Number(a.tokens);
    const B = Number(a.batch);
    const steps = Number(a.steps);
    const threads = Number(a.threads);
    getGgml({ threads });
    // makeSpmVocab adds control, byte and character tokens of its own: size the word pieces to land on vocabSize.
    let pieces = Array.from({ length: shape.vocabSize - makeSpmVocab([]).tokens.length }, (_, i) => `\u2581w${i}`);
    let vocab = makeSpmVocab(pieces);
    if (vocab.tokens.length > shape.vocabSize) vocab = makeSpmVocab((pieces = pieces.slice(0, pieces.length - (vocab.tokens.length - shape.vocabSize))));
    if (vocab.tokens.length !== shape.vocabSize) throw new Error(`vocabulary of ${vocab.tokens.length}, expected ${shape.vocabSize}`);
    const m = createModel({ ...shape, contextLength: 512 }, 1, vocab.metadata);
    const params = m.weights.names().reduce((s, n) => s + m.weights.shape(n).reduce((x, y) => x * y, 1), 0);
    console.log(`${a.shape}: ${(params / 1e6).toFixed(0)}M parameters (random weights), ${threads} threads`);

    m.addLora({ rank: 8, alpha: 8, targets: ALL_LORA_TARGETS }, 1);
    const rng = new Rng(1);
    const examples = Array.from({ length: B * (steps + 1) }, () => {
        const tokens = Int32Array.from({ length: T }, () => 300 + rng.int(shape.vocabSize - 300));
        return { tokens, targetMask: Uint8Array.from(tokens, (_, j) => (j ? 1 : 0)) };
    });
    const stepMs: number[] = [];
    let peak = 0;
    const t0 = performance.now();
    await train(m, examples, {
        mode: "lora",
        lr: 2e-4,
        epochs: 1,
        batchSize: B,
        seed: 1,
        onStep: (s) => {
            stepMs.push(s.stepMs);
            peak = Math.max(peak, process.memoryUsage().rss);
            console.log(`  step ${s.step}/${s.totalSteps}: ${(s.stepMs / 1000).toFixed(1)} s`);
        },
    });
    const trainS = (performance.now() - t0) / 1000;
    // The first step builds graphs and allocates: the median of the rest.
    const ms = median(stepMs.slice(1));
    const tokPerS = (B * (T - 1)) / (ms / 1000);

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sublab-bench-real-"));
    const file = path.join(dir, "model.gguf");
    m.free();
    const m2 = createModel({ ...shape, contextLength: 512 }, 1, vocab.metadata);
    m2.save(file, { type: GGMLType.F16 });
    m2.free();
    const llama = await getRuntime();
    const lm = await llama.loadModel({ modelPath: file });
    const ctx = await lm.createContext({ contextSize: 512, threads });
    const seq = ctx.getSequence();
    const prompt = Array.from({ length: 64 }, () => (300 + rng.int(shape.vocabSize - 300)) as Token);
    const p0 = performance.now();
    await seq.evaluateWithoutGeneratingNewTokens(prompt);
    const prefill = 64 / ((performance.now() - p0) / 1000);
    let n = 0;
    const g0 = performance.now();
    for await (const _ of seq.evaluate([prompt[0]!], { temperature: 1, seed: 1 })) if (++n >= 32) break;
    const gen = n / ((performance.now() - g0) / 1000);
    await ctx.dispose();
    await lm.dispose();
    fs.rmSync(dir, { recursive: true, force: true });

    const rows = 10000;
    const rowTokens = 30;
    const epochs = 3;
    const studentH = (rows * rowTokens * epochs) / tokPerS / 3600;
    // Work per trained token of a LoRA step, as matmul FLOPs: forward 2N and the activations' backward 2N, N the
    // weights every token multiplies (all but the input embedding, whose rows are looked up; a tied head counts).
    const matmulParams = params - (shape.tiedEmbeddings ? 0 : shape.vocabSize * shape.dModel);
    const gflops = (4 * matmulParams * tokPerS) / 1e9;
    console.log("");
    console.log(
        `| shape | params | threads | LoRA step (B=${B}, T=${T}) | train tokens/s | GFLOP/s (4 N per token) | peak RSS | node-llama-cpp prefill tok/s | generation tok/s | paper's student (10k rows x 30 tokens x 3 epochs) |`,
    );
    console.log(`|---|---|---|---|---|---|---|---|---|---|`);
    console.log(
        `| ${a.shape} | ${(params / 1e6).toFixed(0)}M | ${threads} | ${(ms / 1000).toFixed(1)} s | ${tokPerS.toFixed(0)} | ${gflops.toFixed(0)} | ${(peak / 2 ** 30).toFixed(1)} GiB | ${prefill.toFixed(0)} | ${gen.toFixed(1)} | ~${studentH.toFixed(1)} h |`,
    );
    console.log(`(${steps + 1} steps in ${trainS.toFixed(0)} s; the first step builds graphs and is left out of the median)`);
}
