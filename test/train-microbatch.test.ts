/**
 * Gradient accumulation: a step split into micro-batches (weighted by their target counts) is the same step as
 * one big batch, for both backward implementations, full and LoRA.
 */
import { describe, expect, it } from "vitest";
import { ALL_LORA_TARGETS } from "../src/model/config.ts";
import type { Model } from "../src/model/model.ts";
import { train, type BackwardKind, type TrainExample } from "../src/train/trainer.ts";
import { bucketByLength } from "../src/train/order.ts";
import { Rng } from "../src/util/rng.ts";
import { tinyModel } from "./helpers/tiny.ts";

function examples(n: number): TrainExample[] {
    const rng = new Rng(21);
    return Array.from({ length: n }, () => {
        const tokens = Int32Array.from({ length: 6 + rng.int(20) }, (_, j) => (j ? 270 + rng.int(30) : 1));
        const from = 1 + rng.int(4);
        return { tokens, targetMask: Uint8Array.from(tokens, (_, j) => (j >= from ? 1 : 0)) };
    });
}

function trained(m: Model): Float32Array[] {
    const s = m.lora ? m.lora.store : m.weights;
    return s.names().map((n) => s.get(n));
}

describe("micro-batches (gradient accumulation)", () => {
    for (const backward of ["manual", "autodiff"] as BackwardKind[]) {
        for (const mode of ["full", "lora"] as const) {
            it(`${backward}, ${mode}: micro-batches of 3 equal one batch of 8`, async () => {
                const ex = examples(24);
                const run = async (microBatchSize?: number) => {
                    const m = tinyModel({}, 6);
                    if (mode === "lora") m.addLora({ rank: 4, alpha: 8, targets: ALL_LORA_TARGETS }, 2);
                    const r = await train(m, ex, { mode, backward, lr: 3e-3, epochs: 2, batchSize: 8, microBatchSize, seed: 4 });
                    const w = trained(m);
                    m.free();
                    return { losses: r.losses, w };
                };
                const whole = await run();
                const split = await run(3);
                whole.losses.forEach((l, i) => expect(split.losses[i]).toBeCloseTo(l, 4));
                whole.w.forEach((w, t) => {
                    let d = 0;
                    let s = 0;
                    for (let i = 0; i < w.length; i++) {
                        d = Math.max(d, Math.abs(w[i] - split.w[t][i]));
                        s = Math.max(s, Math.abs(w[i]));
                    }
                    expect(d / s).toBeLessThan(1e-3);
                });
            });
        }
    }
});

describe("bucketByLength (the forge's batching of rows of similar length)", () => {
    it("keeps every row once, makes batches of similar length, keeps a short last batch last, and is seeded", () => {
        const lengths = Array.from({ length: 1000 }, (_, i) => (i % 13 === 0 ? 200 : 20 + (i % 7)));
        const order = new Rng(1).shuffle([...lengths.keys()]);
        const out = bucketByLength(order, (i) => lengths[i]!, 16, 10, new Rng(2));
        expect([...out].sort((a, b) => a - b)).toEqual([...lengths.keys()]);
        // Each run of 160 rows holds the same rows as before, only regrouped.
        expect(new Set(out.slice(0, 160))).toEqual(new Set(order.slice(0, 160)));
        // Padding: the sum over batches of (batch size x longest row) falls well below the shuffled order's.
        const padded = (o: number[]) => { let s = 0; for (let k = 0; k < o.length; k += 16) s += o.slice(k, k + 16).length * Math.max(...o.slice(k, k + 16).map((i) => lengths[i]!)); return s; };
        expect(padded(out)).toBeLessThan(0.5 * padded(order));
        // 1000 = 6 runs of 160 + 40: the last run's short batch (8 rows) is last.
        expect(out.slice(-8).every((i) => order.slice(960).includes(i))).toBe(true);
        expect(bucketByLength(order, (i) => lengths[i]!, 16, 10, new Rng(2))).toEqual(out);
        expect(bucketByLength(order, (i) => lengths[i]!, 16, 10, new Rng(3))).not.toEqual(out);
    });
});
