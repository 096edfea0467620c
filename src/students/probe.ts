/**
 * What a student can still learn, on a fixed held-out batch: the distillation loss there minus the entropy of
 * that batch's labels, i.e. the mean KL divergence from the labels (the data source's next-token distributions)
 * to the student's. A step's own loss compares different batches, and it is mostly the labels' own entropy,
 * which no training removes; this curve starts at what the base does not share with the source and goes down
 * as the student learns it. For sampled (one-hot) labels the entropy is 0 and the curve is the held-out loss.
 */
import type { Model } from "../engine/model.ts";
import { batchLoss } from "./trainer.ts";
import { type TrainExample } from "./trainer-types.ts";

/** Mean over the batch's target positions of the labels' entropy (nats); 0 for token targets. */
export function labelEntropy(examples: readonly TrainExample[], vocab: number): number {
    let sum = 0;
    let rows = 0;
    const h = (p: ArrayLike<number>, from: number, to: number) => {
        let total = 0;
        for (let k = from; k < to; k++) total += p[k]!;
        let e = 0;
        for (let k = from; k < to; k++) {
            const q = p[k]! / total;
            if (q > 0) e -= q * Math.log(q);
        }
        return e;
    };
    for (const ex of examples) {
        const n = ex.targetMask.reduce((a, b) => a + b, 0);
        rows += n;
        if (ex.softSparse) for (let r = 0; r < n; r++) sum += h(ex.softSparse.probs, ex.softSparse.offsets[r]!, ex.softSparse.offsets[r + 1]!);
        else if (ex.soft) for (let r = 0; r < n; r++) sum += h(ex.soft, r * vocab, (r + 1) * vocab);
    }
    return rows > 0 ? sum / rows : 0;
}

/** A probe of `model` on a fixed batch: its loss there minus the labels' entropy (computed once). */
export function heldOutProbe(examples: TrainExample[], vocab: number): (model: Model) => number {
    const entropy = labelEntropy(examples, vocab);
    return (model) => batchLoss(model, examples) - entropy;
}

/** The steps to probe at: about `points` of them spread over a training of `total` steps, the last included. */
export function probeSteps(total: number, points = 8): Set<number> {
    const every = Math.max(1, Math.round(total / points));
    const out = new Set<number>([total]);
    for (let s = every; s < total; s += every) out.add(s);
    return out;
}
