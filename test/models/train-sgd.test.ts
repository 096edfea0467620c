/** The trainer's plain-SGD optimizer (TrainOptions.optimizer "sgd", ggml_opt_step_sgd): one step is w - lr * grad, and AdamW's is not. */
import { describe, expect, it } from "vitest";
import { createModel } from "../../src/engine/model.ts";
import { lossAndGradients, train } from "../../src/students/trainer.ts";
import { type TrainExample } from "../../src/students/trainer-types.ts";
import { Rng } from "../../src/util/rng.ts";

const V = 64;

function examples(): TrainExample[] {
    const rng = new Rng(11);
    return [12, 9, 15, 7].map((len) => {
        const tokens = Int32Array.from({ length: len }, () => rng.int(V));
        return { tokens, targetMask: Uint8Array.from(tokens, (_, j) => (j > 2 ? 1 : 0)) };
    });
}

const model = () => createModel({ arch: "llama", vocabSize: V, dModel: 32, nLayers: 2, nHeads: 4, nKvHeads: 4, dFF: 48, contextLength: 32 }, 5);

describe("plain SGD in the trainer", () => {
    it("takes one step of w - lr * grad; AdamW's step differs", async () => {
        const ex = examples();
        const lr = 0.05;
        const m = model();
        const before = new Map(m.weightNames().map((n) => [n, Float32Array.from(m.weights.get(n))]));
        const { grads } = lossAndGradients(m, ex, "full");
        const step = { mode: "full" as const, lr, batchSize: 4, epochs: 1, warmupSteps: 0, schedule: "constant" as const, gradClip: 0 };
        await train(m, ex, { ...step, optimizer: "sgd" });
        for (const n of ["output.weight", "blk.0.attn_q.weight", "blk.1.ffn_down.weight"]) {
            const want = before.get(n)!.map((w, i) => w - lr * grads.get(n)![i]!);
            const got = m.weights.get(n);
            let worst = 0;
            for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
            expect(worst).toBeLessThan(1e-5);
        }
        m.weights.free();
        const a = model();
        await train(a, ex, step);
        const moved = a.weights.get("output.weight").map((w, i) => w - before.get("output.weight")![i]!);
        // Adam's first step moves every weight with a gradient by about lr, whatever the gradient's size.
        expect(Math.max(...moved.map(Math.abs))).toBeGreaterThan(0.5 * lr);
        a.weights.free();
    });
});
