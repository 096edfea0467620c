/**
 * The engine's logits equal llama.cpp's own inference of the same GGUF: a model created and trained by the
 * engine, saved, and loaded in node-llama-cpp gives the same next-token log-probabilities (max abs diff
 * < 1e-3); likewise base + LoRA adapter, and a qwen2-shaped (biases, NeoX RoPE, GQA) model.
 */
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { lastTokenLogits, logSoftmax } from "../../src/engine/logits.ts";
import { loadModel, type Model } from "../../src/engine/model.ts";
import { ALL_LORA_TARGETS, type Arch } from "../../src/engine/model-config.ts";
import { GGMLType } from "../../src/engine/gguf.ts";
import { train } from "../../src/students/trainer.ts";
import { type TrainExample } from "../../src/students/trainer-types.ts";
import { llamaCppNextLogProbs } from "../helpers/llamacpp.ts";
import { tempDir, tinyModel } from "../helpers/tiny.ts";

const dir = tempDir();
afterAll(() => undefined);

/** Cyclic sequences (so training makes the distributions peaked, not uniform); `reverse` runs the cycles backwards. */
function patternExamples(n: number, reverse = false): TrainExample[] {
    const out: TrainExample[] = [];
    for (let i = 0; i < n; i++) {
        const period = 3 + (i % 4);
        const toks = [1];
        for (let j = 0; j < 30; j++) {
            const k = (i * 7 + j) % period;
            toks.push(270 + (reverse ? period - 1 - k : k) * 5);
        }
        out.push({ tokens: Int32Array.from(toks), targetMask: Uint8Array.from(toks, (_, j) => (j ? 1 : 0)) });
    }
    return out;
}

const PROMPTS = [
    [1, 270, 275, 280, 270, 275],
    [1, 271, 276],
    [1, 280, 275, 270, 280, 275, 270],
    [1, 290, 290, 290, 290, 290, 290, 290, 290, 290, 290, 290],
    [1, 300, 12, 44, 99, 270],
    [1],
];

function maxAbsDiff(a: Float64Array, b: Float64Array): number {
    let d = 0;
    for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
    return d;
}

async function compare(m: Model, file: string, lora?: string): Promise<{ diff: number; maxP: number }> {
    const engine = lastTokenLogits(m, PROMPTS).map(logSoftmax);
    const ref = await llamaCppNextLogProbs(file, m.config.vocabSize, PROMPTS, lora);
    let diff = 0;
    let maxP = 0;
    engine.forEach((e, i) => {
        diff = Math.max(diff, maxAbsDiff(e, ref[i]));
        maxP = Math.max(maxP, Math.exp(Math.max(...e)));
    });
    return { diff, maxP };
}

describe("engine vs llama.cpp inference", () => {
    for (const arch of ["llama", "qwen2"] as Arch[]) {
        it(`${arch}: trained full model saved as GGUF`, async () => {
            const m = tinyModel({ arch });
            const r = await train(m, patternExamples(48), { mode: "full", lr: 3e-3, epochs: 15, batchSize: 8, seed: 1 });
            expect(r.losses.at(-1)!).toBeLessThan(r.losses[0] / 2);
            const file = path.join(dir, `${arch}.gguf`);
            m.save(file);
            const { diff, maxP } = await compare(m, file);
            expect(maxP, "training made some distribution peaked").toBeGreaterThan(0.3);
            expect(diff).toBeLessThan(1e-3);
            // The saved file loads back into the engine with identical weights.
            const back = loadModel(file);
            for (const n of m.weights.names()) expect(back.weights.get(n)).toEqual(m.weights.get(n));
            back.free();
            m.free();
        });
    }

    it("f16 and q8_0 files load into the engine and agree with llama.cpp on the same file", async () => {
        const m = tinyModel({ arch: "llama" }, 3);
        await train(m, patternExamples(48), { mode: "full", lr: 3e-3, epochs: 15, batchSize: 8, seed: 1 });
        const ref32 = lastTokenLogits(m, PROMPTS).map(logSoftmax);
        // llama.cpp multiplies f16 weights with f16-rounded activations and q8_0 weights with q8_0 activations;
        // the engine dequantizes to f32, so the tolerance is the quantization's, not 1e-3.
        for (const [type, tol] of [[GGMLType.F16, 1e-2], [GGMLType.Q8_0, 5e-2]] as const) {
            const file = path.join(dir, `q-${type}.gguf`);
            m.save(file, { type });
            const q = loadModel(file);
            const { diff } = await compare(q, file);
            expect(diff, `type ${type}`).toBeLessThan(tol);
            const drift = Math.max(...lastTokenLogits(q, PROMPTS).map(logSoftmax).map((e, i) => maxAbsDiff(e, ref32[i])));
            expect(drift, `type ${type} vs f32`).toBeLessThan(tol);
            expect(drift).toBeGreaterThan(0); // it really was rounded
            q.free();
        }
        m.free();
    });

    it("Llama 3: RoPE frequency factors (rope_freqs.weight) as llama.cpp applies them", async () => {
        // Llama 3.1+ GGUFs store their "llama3" RoPE scaling as per-pair frequency divisors (head dim 16 -> 8).
        // Llama 3's own divide only the slow pairs, which prompts this short barely turn; these move the fast
        // pairs too, so that applying them or not shows in the logits.
        const ropeFreqs = [2.5, 0.5, 4, 1.6, 3.1, 8, 8, 8];
        const m = tinyModel({ arch: "llama", ropeFreqs }, 4);
        await train(m, patternExamples(48), { mode: "full", lr: 3e-3, epochs: 15, batchSize: 8, seed: 1 });
        const file = path.join(dir, "llama3.gguf");
        m.save(file);
        const { diff, maxP } = await compare(m, file);
        expect(maxP).toBeGreaterThan(0.3);
        expect(diff).toBeLessThan(1e-3);
        const back = loadModel(file);
        expect(back.config.ropeFreqs).toEqual(ropeFreqs.map(Math.fround));
        back.free();
        // Dropping the factors changes llama.cpp's answer, so they were read and applied, not ignored.
        const plain = tinyModel({ arch: "llama" }, 4);
        for (const n of m.weights.names()) plain.weights.set(n, m.weights.get(n));
        const plainFile = path.join(dir, "llama3-plain.gguf");
        plain.save(plainFile);
        expect((await compare(m, plainFile)).diff).toBeGreaterThan(1e-2);
        plain.free();
        m.free();
    });

    it("gemma3 (Gemma 3's graph: q/k norms, post norms, GELU gate, sliding window, local RoPE base)", async () => {
        // Head size 24 (not dModel/nHeads = 16, as in Gemma 3), every other layer local with a window of 4 (the
        // prompts run to 12 tokens), local RoPE base 10,000 vs global 1,000,000.
        const m = tinyModel({ arch: "gemma3", nLayers: 2, headDim: 24, slidingWindow: 4, slidingWindowPattern: 2, ropeTheta: 1e6, rmsEps: 1e-6 }, 6);
        const r = await train(m, patternExamples(48), { mode: "full", lr: 3e-3, epochs: 15, batchSize: 8, seed: 1 });
        expect(r.losses.at(-1)!).toBeLessThan(r.losses[0] / 2);
        const file = path.join(dir, "gemma3.gguf");
        m.save(file);
        const { diff, maxP } = await compare(m, file);
        expect(maxP).toBeGreaterThan(0.3);
        // llama.cpp's CPU GELU reads an f16 table (the engine computes the tanh form exactly): 2e-3, not 1e-3.
        expect(diff).toBeLessThan(2e-3);
        const back = loadModel(file);
        expect(back.config).toEqual(m.config);
        back.free();
        // The window and the local base are applied by both: without them llama.cpp disagrees with the engine.
        const global = tinyModel({ ...m.config, slidingWindow: undefined }, 6);
        for (const n of m.weights.names()) global.weights.set(n, m.weights.get(n));
        const globalFile = path.join(dir, "gemma3-global.gguf");
        global.save(globalFile);
        expect((await compare(m, globalFile)).diff).toBeGreaterThan(1e-2);
        global.free();
        // LoRA on it: the adapter loads over the file in llama.cpp.
        m.addLora({ rank: 4, alpha: 8, targets: ALL_LORA_TARGETS }, 3);
        const rl = await train(m, patternExamples(48, true), { mode: "lora", lr: 1e-2, epochs: 15, batchSize: 8, seed: 1 });
        expect(rl.losses.at(-1)!).toBeLessThan(rl.losses[0] / 2);
        const adapter = path.join(dir, "gemma3-adapter.gguf");
        m.saveLora(adapter);
        expect((await compare(m, file, adapter)).diff).toBeLessThan(2e-3);
        m.free();
    });

    it("LoRA trained on a q8_0 base loads over that file in llama.cpp", async () => {
        const m = tinyModel({ arch: "llama" }, 5);
        await train(m, patternExamples(48), { mode: "full", lr: 3e-3, epochs: 15, batchSize: 8, seed: 1 });
        const base = path.join(dir, "q8-base.gguf");
        m.save(base, { type: GGMLType.Q8_0 });
        m.free();
        const q = loadModel(base); // dequantized to f32 for training; the file stays q8_0
        q.addLora({ rank: 4, alpha: 8, targets: ALL_LORA_TARGETS }, 3);
        const r = await train(q, patternExamples(48, true), { mode: "lora", lr: 1e-2, epochs: 15, batchSize: 8, seed: 1 });
        expect(r.losses.at(-1)!).toBeLessThan(r.losses[0] / 2);
        const adapter = path.join(dir, "q8-adapter.gguf");
        q.saveLora(adapter);
        const { diff, maxP } = await compare(q, base, adapter);
        expect(maxP).toBeGreaterThan(0.3);
        expect(diff).toBeLessThan(5e-2); // q8_0's own error (see above), not the adapter's
        expect((await compare(q, base)).diff, "the adapter changes llama.cpp's answer").toBeGreaterThan(0.1);
        q.free();
    });

    it("base + trained LoRA adapter (GGUF adapter loaded by node-llama-cpp)", async () => {
        // LoRA on a random base cannot move its logits much (the frozen output norm and head bound them), so
        // the base is a briefly trained model, as real bases are.
        const m = tinyModel({ arch: "llama" }, 2);
        await train(m, patternExamples(48), { mode: "full", lr: 3e-3, epochs: 15, batchSize: 8, seed: 1 });
        const base = path.join(dir, "lora-base.gguf");
        m.save(base);
        m.addLora({ rank: 4, alpha: 8, targets: ALL_LORA_TARGETS }, 3);
        const r = await train(m, patternExamples(48, true), { mode: "lora", lr: 1e-2, epochs: 15, batchSize: 8, seed: 1 });
        expect(r.losses.at(-1)!).toBeLessThan(r.losses[0] / 2);
        const adapter = path.join(dir, "adapter.gguf");
        m.saveLora(adapter);
        const { diff, maxP } = await compare(m, base, adapter);
        expect(maxP).toBeGreaterThan(0.3);
        expect(diff).toBeLessThan(1e-3);
        // Without the adapter llama.cpp gives the base model, which is far from the adapted one.
        const { diff: baseDiff } = await compare(m, base);
        expect(baseDiff).toBeGreaterThan(0.1);
        // The adapter loads back into the engine.
        const back = loadModel(base);
        back.loadLora(adapter);
        expect(back.lora!.spec).toEqual(m.lora!.spec);
        back.free();
        m.free();
    });
});
