/**
 * Top-k soft labels: at each position the teacher's most probable tokens until they hold `mass` of the
 * probability (or k of them), renormalised; stored sparse and spread into the batch's labels only, so that soft
 * labels cost rows x positions x k instead of x vocabulary. With mass 1 they are the full distribution: the
 * same loss and gradients as dense soft labels.
 */
import { describe, expect, it } from "vitest";
import { positionProbs, positionTopK } from "../../src/engine/logits.ts";
import { lossAndGradients } from "../../src/students/trainer.ts";
import { type TrainExample } from "../../src/students/trainer-types.ts";
import { Rng } from "../../src/util/rng.ts";
import { tinyModel } from "../helpers/tiny.ts";

const rng = new Rng(4);
const m = tinyModel({}, 3);
const V = m.config.vocabSize;
// Larger weights than the init, so that distributions are peaked and truncation matters.
for (const n of m.weights.names()) {
    const w = m.weights.get(n);
    if (!n.endsWith("norm.weight")) for (let i = 0; i < w.length; i++) w[i] = 0.3 * rng.normal();
    m.weights.set(n, w);
}
const seqs = Array.from({ length: 5 }, (_, i) => Int32Array.from({ length: 8 + i }, () => 3 + rng.int(V - 3)));
const positions = seqs.map((s) => Array.from({ length: s.length - 3 }, (_, j) => j + 2));

describe("top-k soft labels", () => {
    it("keep the fewest most probable tokens that reach the mass, renormalised", () => {
        const dense = positionProbs(m, seqs, positions);
        for (const mass of [0.5, 0.9, 0.999]) {
            const sparse = positionTopK(m, seqs, positions, { mass });
            let sizes = 0;
            sparse.forEach((t, s) => {
                for (let j = 0; j < positions[s]!.length; j++) {
                    const ids = Array.from(t.ids.subarray(t.offsets[j]!, t.offsets[j + 1]!));
                    const p = dense[s]!.subarray(j * V, (j + 1) * V);
                    const kept = ids.reduce((a, v) => a + p[v]!, 0);
                    expect(kept).toBeGreaterThanOrEqual(mass - 1e-6);
                    // minimal: without its least probable token, the rest holds less than the mass
                    expect(kept - Math.min(...ids.map((v) => p[v]!))).toBeLessThan(mass);
                    // the most probable tokens
                    const order = Array.from(p.keys()).sort((a, b) => p[b]! - p[a]! || a - b).slice(0, ids.length);
                    expect([...ids].sort((a, b) => a - b)).toEqual(order.sort((a, b) => a - b));
                    const probs = t.probs.subarray(t.offsets[j]!, t.offsets[j + 1]!);
                    expect(probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
                    ids.forEach((v, x) => expect(probs[x]).toBeCloseTo(p[v]! / kept, 5));
                    sizes += ids.length;
                }
            });
            if (mass < 0.999) expect(sizes).toBeLessThan(positions.flat().length * V * 0.5);
        }
        const capped = positionTopK(m, seqs, positions, { mass: 1, k: 3 });
        expect(capped.every((t) => t.offsets.every((o, j) => j === 0 || o - t.offsets[j - 1]! === 3))).toBe(true);
    });

    it("train exactly like dense soft labels when they keep every token", () => {
        const dense = positionProbs(m, seqs, positions);
        const sparse = positionTopK(m, seqs, positions, { mass: 1 });
        const ex = (soft: "dense" | "sparse"): TrainExample[] =>
            seqs.map((tokens, s) => {
                const targetMask = Uint8Array.from(tokens, (_, j) => (positions[s]!.includes(j - 1) ? 1 : 0));
                return soft === "dense" ? { tokens, targetMask, soft: dense[s]! } : { tokens, targetMask, softSparse: sparse[s]! };
            });
        const a = lossAndGradients(m, ex("dense"), "full");
        const b = lossAndGradients(m, ex("sparse"), "full");
        expect(b.loss).toBeCloseTo(a.loss, 5);
        for (const [name, g] of a.grads) {
            const h = b.grads.get(name)!;
            let d = 0;
            let scale = 0;
            for (let i = 0; i < g.length; i++) {
                d = Math.max(d, Math.abs(g[i]! - h[i]!));
                scale = Math.max(scale, Math.abs(g[i]!));
            }
            expect(d, name).toBeLessThanOrEqual(1e-5 * Math.max(1, scale));
        }
    });
});
