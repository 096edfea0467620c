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
 * the fewest most probable tokens that hold `mass` of it (or `k` tokens, whichever comes first), renormalised
 * to sum to 1 (in token order within a probability bin, not sorted). mass 1 and no k keep every token with a
 * nonzero probability.
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
    // Tokens are binned by log-probability (BINS_PER_NAT bins per nat below the maximum); the bins are taken
    // from the top until they hold the mass, and only the last bin's tokens are sorted: O(V) per position.
    const BINS_PER_NAT = 16;
    const NBINS = 64 * BINS_PER_NAT;
    const binMass = new Float64Array(NBINS + 1);
    const binCount = new Int32Array(NBINS + 1);
    const binOf = new Int32Array(V);
    forEachPosition(model, seqs, positions, batch, runner, (s, k, lp) => {
        let max = -Infinity;
        for (let v = 0; v < V; v++) if (lp[v]! > max) max = lp[v]!;
        binMass.fill(0);
        binCount.fill(0);
        for (let v = 0; v < V; v++) {
            p[v] = Math.exp(lp[v]!);
            const b = Math.min(NBINS, Math.floor((max - lp[v]!) * BINS_PER_NAT));
            binOf[v] = b;
            binMass[b] += p[v]!;
            binCount[b]++;
        }
        // The bins wholly kept, then the tokens of the bin where the mass (or k) is reached, most probable first.
        let acc = 0;
        let n = 0;
        let last = 0;
        while (last <= NBINS && acc + binMass[last]! < opts.mass && n + binCount[last]! < maxK) {
            acc += binMass[last]!;
            n += binCount[last]!;
            last++;
        }
        const kept: number[] = [];
        const edge: number[] = [];
        for (let v = 0; v < V; v++) {
            if (!(p[v]! > 0)) continue;
            if (binOf[v]! < last) kept.push(v);
            else if (binOf[v] === last) edge.push(v);
        }
        edge.sort((a, b) => p[b]! - p[a]! || a - b);
        for (const v of edge) {
            if (acc >= opts.mass || kept.length >= maxK) break;
            kept.push(v);
            acc += p[v]!;
        }
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
