/**
 * Gradient accumulation: a step split into micro-batches (weighted by their target counts) is the same step as
 * one big batch, for both backward implementations, full and LoRA.
 */
import { describe, expect, it } from "vitest";
import { ALL_LORA_TARGETS } from "../../src/engine/model-config.ts";
import type { Model } from "../../src/engine/model.ts";
import { train } from "../../src/students/trainer.ts";
import { type BackwardKind } from "../../src/students/trainer-types.ts";
import { type TrainExample } from "../../src/students/trainer-types.ts";
import { longRowsApart } from "../../src/students/order.ts";
import { Rng } from "../../src/util/rng.ts";
import { tinyModel } from "../helpers/tiny.ts";

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

describe("longRowsApart (the forge's batching of its long rows)", () => {
    it("keeps every row once, batches long rows only with long rows, keeps short batches last, and is seeded", () => {
        const lengths = Array.from({ length: 1000 }, (_, i) => (i % 13 === 0 ? 200 : 20 + (i % 7)));
        const isLong = (i: number) => lengths[i]! > 120;
        const order = new Rng(1).shuffle([...lengths.keys()]);
        const out = longRowsApart(order, isLong, 16, new Rng(2));
        expect([...out].sort((a, b) => a - b)).toEqual([...lengths.keys()]);
        // 77 long rows: 4 full batches and a tail of 13; 923 others: 57 full batches and a tail of 11; tails last.
        const batches = Array.from({ length: Math.ceil(out.length / 16) }, (_, k) => out.slice(k * 16, k * 16 + 16));
        const full = batches.slice(0, 61);
        expect(full.filter((b) => b.every(isLong)).length).toBe(4);
        expect(full.filter((b) => b.every((i) => !isLong(i))).length).toBe(57);
        expect(out.slice(-24).filter(isLong).length).toBe(13);
        // The other rows' batches are runs of the shuffled order (mixed as before), only reordered.
        const others = order.filter((i) => !isLong(i));
        const runs = new Set(Array.from({ length: 57 }, (_, k) => others.slice(k * 16, k * 16 + 16).join(",")));
        for (const b of full.filter((b) => !isLong(b[0]!))) expect(runs.has(b.join(","))).toBe(true);
        expect(longRowsApart(order, isLong, 16, new Rng(2))).toEqual(out);
        expect(longRowsApart(order, isLong, 16, new Rng(3))).not.toEqual(out);
    });
});
