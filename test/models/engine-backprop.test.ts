/**
 * The hand-written backward pass (src/engine/backprop.ts, the training default) gives the same loss and
 * gradients as ggml's autodiff (the reference, itself checked against finite differences) on batches with
 * padding and prompt masks: llama and qwen2, grouped-query attention, tied embeddings, LoRA, soft labels.
 */
import { describe, expect, it } from "vitest";
import { ALL_LORA_TARGETS, type Arch } from "../../src/engine/model-config.ts";
import { createModel } from "../../src/engine/model.ts";
import { lossAndGradients } from "../../src/students/trainer.ts";
import { type TrainExample } from "../../src/students/trainer-types.ts";
import { Rng } from "../../src/util/rng.ts";

const V = 96;

function batch(soft: boolean, seed: number): TrainExample[] {
    const rng = new Rng(seed);
    return [17, 9, 24, 5].map((len, i) => {
        const tokens = Int32Array.from({ length: len }, () => rng.int(V));
        const targetMask = Uint8Array.from(tokens, (_, j) => (j > i ? 1 : 0));
        const k = targetMask.reduce((s, x) => s + x, 0);
        if (!soft) return { tokens, targetMask };
        const dist = Float32Array.from({ length: k * V }, () => rng.next() ** 4);
        for (let r = 0; r < k; r++) {
            const row = dist.subarray(r * V, (r + 1) * V);
            const z = row.reduce((s, x) => s + x, 0);
            row.forEach((x, j) => (row[j] = x / z));
        }
        return { tokens, targetMask, soft: dist };
    });
}

function maxRelDiff(a: Float32Array, b: Float32Array): number {
    let num = 0;
    let den = 0;
    for (let i = 0; i < a.length; i++) {
        num = Math.max(num, Math.abs(a[i] - b[i]));
        den = Math.max(den, Math.abs(b[i]));
    }
    return num / den;
}

const CASES: { name: string; arch: Arch; nKvHeads: number; tied: boolean; lora: boolean; soft: boolean }[] = [
    { name: "llama, MHA, token targets", arch: "llama", nKvHeads: 4, tied: false, lora: false, soft: false },
    { name: "llama, GQA, tied embeddings, soft labels", arch: "llama", nKvHeads: 2, tied: true, lora: false, soft: true },
    { name: "qwen2, GQA (biases, NeoX rope)", arch: "qwen2", nKvHeads: 1, tied: false, lora: false, soft: false },
    { name: "qwen2 + LoRA on all targets", arch: "qwen2", nKvHeads: 2, tied: false, lora: true, soft: true },
];

describe("manual backward equals ggml autodiff", () => {
    for (const c of CASES) {
        it(c.name, () => {
            const m = createModel({ arch: c.arch, vocabSize: V, dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: c.nKvHeads, dFF: 48, contextLength: 32, tiedEmbeddings: c.tied }, 3);
            if (c.lora) {
                const lora = m.addLora({ rank: 4, alpha: 8, targets: ALL_LORA_TARGETS }, 2);
                const rng = new Rng(5);
                for (const n of lora.store.names()) if (n.endsWith("lora_b")) lora.store.set(n, Float32Array.from({ length: lora.store.numel(n) }, () => 0.05 * rng.normal()));
            }
            const ex = batch(c.soft, 7);
            const mode = c.lora ? "lora" : "full";
            const manual = lossAndGradients(m, ex, mode, undefined, "manual");
            const auto = lossAndGradients(m, ex, mode, undefined, "autodiff");
            expect(manual.loss).toBeCloseTo(auto.loss, 5);
            expect([...manual.grads.keys()]).toEqual([...auto.grads.keys()]);
            for (const [name, g] of auto.grads) {
                expect(maxRelDiff(manual.grads.get(name)!, g), name).toBeLessThan(1e-4);
            }
            m.free();
        });
    }
});
