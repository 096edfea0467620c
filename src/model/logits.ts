/**
 * Inference through the engine's own graph: logits and log-probabilities at chosen positions. Used to check
 * the engine against llama.cpp and by evaluation code that needs exact probabilities.
 */
import { GraphRunner, readF32 } from "../engine/graph.ts";
import type { SparseSoftTargets } from "../train/trainer.ts";
import type { Model } from "./model.ts";

/** Right-pad sequences to one length; returns flattened tokens and that length. */
export function padBatch(seqs: ArrayLike<number>[], padId = 0): { tokens: Int32Array; seqLen: number } {
    const seqLen = Math.max(...seqs.map((s) => s.length));
    const tokens = new Int32Array(seqs.length * seqLen).fill(padId);
    seqs.forEach((s, i) => tokens.set(Array.from(s), i * seqLen));
    return { tokens, seqLen };
}

/**
 * Logits after the last token of each sequence (the next-token distribution), one Float32Array of vocab size each.
 */
export function lastTokenLogits(model: Model, seqs: ArrayLike<number>[], runner = new GraphRunner(model.weights.g)): Float32Array[] {
    const { tokens, seqLen } = padBatch(seqs);
    const rows = Int32Array.from(seqs, (s, i) => i * seqLen + s.length - 1);
    const V = model.config.vocabSize;
    const flat = forwardRows(model, tokens, seqs.length, seqLen, rows, runner);
    return seqs.map((_, i) => flat.slice(i * V, (i + 1) * V));
}

/** Logits [rows.length x vocab] at flattened positions `rows` of a padded batch. */
function forwardRows(model: Model, tokens: Int32Array, nSeq: number, seqLen: number, rows: Int32Array, runner: GraphRunner): Float32Array {
    return runner.run(
        (b, newGraph) => {
            const logits = model.graph().forward(b, { tokens, nSeq, seqLen, rows });
            b.g.api.ggml_set_output(logits);
            const graph = newGraph(false);
            b.g.api.ggml_build_forward_expand(graph, logits);
            return { graph, out: logits };
        },
        (logits, b) => readF32(b.g, logits),
    );
}

/** log softmax of a logits vector, in float64 for accuracy. */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
    let max = -Infinity;
    for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
    let sum = 0;
    for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
    const lse = max + Math.log(sum);
    const out = new Float64Array(logits.length);
    for (let i = 0; i < logits.length; i++) out[i] = logits[i] - lse;
    return out;
}

/**
 * Log-softmax rows at chosen positions of each sequence, `batch` sequences per forward pass: `visit(s, k, lp)`
 * gets sequence s's k-th position's log-probabilities (a buffer reused between calls).
 */
function forEachPosition(model: Model, seqs: ArrayLike<number>[], positions: number[][], batch: number, runner: GraphRunner, visit: (s: number, k: number, lp: Float64Array) => void, onBatch?: (done: number, total: number) => void): void {
    const V = model.config.vocabSize;
    for (let s0 = 0; s0 < seqs.length; s0 += batch) {
        const chunk = seqs.slice(s0, s0 + batch);
        const { tokens, seqLen } = padBatch(chunk);
        const rows = Int32Array.from(chunk.flatMap((_, i) => positions[s0 + i]!.map((p) => i * seqLen + p)));
        const flat = forwardRows(model, tokens, chunk.length, seqLen, rows, runner);
        let r = 0;
        for (let i = 0; i < chunk.length; i++) {
            for (let k = 0; k < positions[s0 + i]!.length; k++, r++) visit(s0 + i, k, logSoftmax(flat.subarray(r * V, (r + 1) * V)));
        }
        onBatch?.(Math.min(seqs.length, s0 + batch), seqs.length);
    }
}

/**
 * Next-token probability distributions at chosen positions of each sequence ([sequence][k] = softmax of the
 * logits after tokens[0..positions[k]]), computed `batch` sequences per forward pass. For soft-label
 * distillation: a teacher's full distributions along a completion.
 */
export function positionProbs(model: Model, seqs: ArrayLike<number>[], positions: number[][], batch = 16, runner = new GraphRunner(model.weights.g)): Float32Array[] {
    const V = model.config.vocabSize;
    const out = positions.map((ps) => new Float32Array(ps.length * V));
    forEachPosition(model, seqs, positions, batch, runner, (s, k, lp) => {
        const probs = out[s]!;
        for (let v = 0; v < V; v++) probs[k * V + v] = Math.exp(lp[v]!);
    });
    return out;
}

/**
 * The most probable next tokens at chosen positions of each sequence, as sparse soft targets: at each position
 * the tokens in order of probability until they hold `mass` of it (or `k` tokens, whichever comes first),
 * renormalised to sum to 1. mass 1 and no k keep every token with a nonzero probability.
 */
export function positionTopK(
    model: Model,
    seqs: ArrayLike<number>[],
    positions: number[][],
    opts: { mass: number; k?: number | null },
    batch = 16,
    runner = new GraphRunner(model.weights.g),
): SparseSoftTargets[] {
    const V = model.config.vocabSize;
    const maxK = Math.min(V, opts.k ?? V);
    const parts = positions.map((ps) => ({ offsets: new Int32Array(ps.length + 1), ids: [] as number[], probs: [] as number[] }));
    const p = new Float64Array(V);
    const sorted = new Float64Array(V);
    forEachPosition(model, seqs, positions, batch, runner, (s, k, lp) => {
        for (let v = 0; v < V; v++) sorted[v] = -(p[v] = Math.exp(lp[v]!));
        sorted.sort(); // descending probabilities, negated
        // The smallest probability kept: where the running mass reaches `mass`, or the k-th largest.
        let acc = 0;
        let cut = -sorted[0]!;
        for (let j = 0; j < maxK; j++) {
            cut = -sorted[j]!;
            acc += cut;
            if (acc >= opts.mass) break;
        }
        const kept: number[] = [];
        for (let v = 0; v < V; v++) if (p[v]! >= cut && p[v]! > 0) kept.push(v);
        kept.sort((a, b) => p[b]! - p[a]! || a - b);
        if (kept.length > maxK) kept.length = maxK; // ties at the cut
        let total = 0;
        for (const v of kept) total += p[v]!;
        const part = parts[s]!;
        for (const v of kept) {
            part.ids.push(v);
            part.probs.push(p[v]! / total);
        }
        part.offsets[k + 1] = part.ids.length;
    });
    return parts.map((x) => ({ offsets: x.offsets, ids: Int32Array.from(x.ids), probs: Float32Array.from(x.probs) }));
}

/**
 * Per-position scores of sequences: at each chosen position, the log-probability of the token that follows it
 * (`next[sequence][k]`) and the most likely next token. Nothing of vocabulary size is kept beyond one batch
 * (the filters score thousands of rows this way).
 */
export function positionTokenScores(
    model: Model,
    seqs: ArrayLike<number>[],
    positions: number[][],
    next: number[][],
    batch = 16,
    runner = new GraphRunner(model.weights.g),
    onBatch?: (done: number, total: number) => void,
): { logp: number[]; top: number[] }[] {
    const out = positions.map(() => ({ logp: [] as number[], top: [] as number[] }));
    forEachPosition(
        model,
        seqs,
        positions,
        batch,
        runner,
        (s, k, lp) => {
            let best = 0;
            for (let v = 1; v < lp.length; v++) if (lp[v]! > lp[best]!) best = v;
            out[s]!.logp.push(lp[next[s]![k]!]!);
            out[s]!.top.push(best);
        },
        onBatch,
    );
    return out;
}
