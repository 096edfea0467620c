/**
 * Gradient accumulation: a step split into micro-batches (weighted by their target counts) is the same step as
 * one big batch, for both backward implementations, full and LoRA.
 */
import { describe, expect, it } from "vitest";
import { ALL_LORA_TARGETS } from "../src/model/config.ts";
import type { Model } from "../src/model/model.ts";
import { train, type BackwardKind, type TrainExample } from "../src/train/trainer.ts";
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
