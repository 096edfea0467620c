/** The theorem experiment's MLP on the engine (src/studies/theorem-mlp.ts): it learns the procedural digits, and a student distils another network's auxiliary logits. */
import { describe, expect, it } from "vitest";
import { digitSet, noiseSet } from "../../src/studies/theorem-digits.ts";
import { auxLogits, auxTargets, initWeights, Mlp } from "../../src/studies/theorem-mlp.ts";

describe("the theorem MLP", { timeout: 120_000 }, () => {
    it("starts from the same weights for the same seed, and learns the digits from their class logits", () => {
        const a = initWeights(4);
        expect(initWeights(4).get("w0")).toEqual(a.get("w0"));
        expect(initWeights(5).get("w0")).not.toEqual(a.get("w0"));
        const train = digitSet(1, 2000);
        const test = digitSet(2, 500);
        const net = new Mlp(a);
        try {
            const before = net.accuracy(test.images, test.labels);
            const losses = net.train(train.images, train.n, { kind: "labels", labels: train.labels }, { epochs: 3, batch: 64, lr: 1e-3, seed: 1 });
            expect(losses[2]!).toBeLessThan(losses[0]!);
            expect(before).toBeLessThan(0.3);
            expect(net.accuracy(test.images, test.labels)).toBeGreaterThan(0.85);
        } finally {
            net.free();
        }
    });

    it("distils another network's auxiliary logits on noise (softmax or raw), the same way twice", () => {
        const noise = noiseSet(3, 1000);
        const teacher = new Mlp(initWeights(7));
        const probs = auxTargets(teacher, noise.images, noise.n);
        const logits = auxLogits(teacher, noise.images, noise.n);
        teacher.free();
        expect(probs.filter((_, i) => i % 3 === 0).every((p, i) => Math.abs(p + probs[3 * i + 1]! + probs[3 * i + 2]! - 1) < 1e-5)).toBe(true);
        const run = () => {
            const st = new Mlp(initWeights(8));
            try {
                const soft = st.train(noise.images, noise.n, { kind: "aux", probs }, { epochs: 3, batch: 50, lr: 1e-3, seed: 2 });
                const raw = st.train(noise.images, noise.n, { kind: "aux-logits", logits }, { epochs: 3, batch: 50, lr: 1e-3, seed: 2 });
                return { soft, raw, out: st.logits(noise.images.subarray(0, 784 * 4), 4) };
            } finally {
                st.free();
            }
        };
        const r = run();
        expect(r.soft[2]!).toBeLessThan(r.soft[0]!);
        expect(r.raw[2]!).toBeLessThan(r.raw[0]!);
        expect(run().out).toEqual(r.out);
    });
});
