/** The data order of a training epoch: a seeded shuffle, optionally regrouped into batches of rows of similar length. */
import { subRng } from "../util/rng.ts";
import type { TrainExample } from "./trainer.ts";

/** Epoch `epoch`'s order: each epoch from its own seeded stream, so a resumed run sees the same batches. */
export function epochOrder(examples: readonly TrainExample[], seed: number, epoch: number, batchSize: number, lengthBuckets?: number): number[] {
    const rng = subRng(seed, `data-order-${epoch}`);
    const order = rng.shuffle([...examples.keys()]);
    return lengthBuckets ? bucketByLength(order, (i) => examples[i]!.tokens.length, batchSize, lengthBuckets, rng) : order;
}

/**
 * `order` in runs of `buckets` batches, each run sorted by length, cut into batches, and its batches shuffled. A
 * batch is padded to its longest row, so a corpus with a few long rows (the forge's multi-turn chats, 2-4x the
 * others) trains about twice as fast; batches then mix kinds of rows less.
 */
export function bucketByLength(order: number[], length: (i: number) => number, batchSize: number, buckets: number, rng: { shuffle<T>(xs: T[]): T[] }): number[] {
    const out: number[] = [];
    const run = batchSize * buckets;
    for (let c = 0; c < order.length; c += run) {
        const part = order.slice(c, c + run).sort((a, b) => length(a) - length(b) || a - b);
        const batches: number[][] = [];
        for (let k = 0; k < part.length; k += batchSize) batches.push(part.slice(k, k + batchSize));
        // A short last batch stays last, so that steps still cut the order at batch boundaries.
        const short = batches.at(-1)!.length < batchSize ? batches.pop()! : [];
        for (const b of rng.shuffle(batches)) out.push(...b);
        out.push(...short);
    }
    return out;
}
