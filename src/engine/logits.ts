/**
 * Inference through the engine's own graph: logits and log-probabilities at chosen positions. Used to check
 * the engine against llama.cpp and by evaluation code that needs exact probabilities.
 */
import { GraphRunner, readF32 } from "./graph.ts";
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

/** Logits [rows.length x vocab] at flattened positions `rows` of a padded batch (`softmax`: probabilities instead, by ggml). */
function forwardRows(
    model: Model,
    tokens: Int32Array,
    nSeq: number,
    seqLen: number,
    rows: Int32Array,
    runner: GraphRunner,
    softmax = false,
    parents?: Int32Array,
): Float32Array {
    return runner.run(
        (b, newGraph) => {
            const logits = model.graph().forward(b, { tokens, nSeq, seqLen, rows, parents });
            const out = softmax ? b.g.api.ggml_soft_max(b.ctx, logits) : logits;
            b.g.api.ggml_set_output(out);
            const graph = newGraph(false);
            b.g.api.ggml_build_forward_expand(graph, out);
            return { graph, out };
        },
        (out, b) => readF32(b.g, out),
    );
}

/** Sparse soft targets of one sequence: position j's are ids[offsets[j] .. offsets[j+1]) with probabilities probs[...] (summing to 1). */
export interface SparseSoftTargets {
    offsets: Int32Array;
    ids: Int32Array;
    probs: Float32Array;
}

/** A token tree: tokens[i] follows tokens[parents[i]] (-1: a root); `wanted` lists the tokens whose next-token distribution is asked for. */
export interface TokenTree {
    tokens: number[];
    parents: number[];
    wanted: number[];
}

/**
 * Next-token log-probabilities after chosen tokens of token trees ([tree][k] for tree.wanted[k]): a prompt and
 * all its continuations in one sequence (each token sees only its ancestors, at position = its depth), `batch`
 * trees per forward pass. The same numbers as each path run as its own sequence, for a fraction of the work.
 */
export function treeLogProbs(model: Model, trees: TokenTree[], batch = 16, runner = new GraphRunner(model.weights.g)): Float64Array[][] {
    const V = model.config.vocabSize;
    const out: Float64Array[][] = [];
    for (let s0 = 0; s0 < trees.length; s0 += batch) {
        const chunk = trees.slice(s0, s0 + batch);
        const { tokens, seqLen: T } = padBatch(chunk.map((t) => t.tokens));
        const parents = new Int32Array(chunk.length * T);
        chunk.forEach((t, i) => {
            for (let j = 0; j < T; j++) parents[i * T + j] = j < t.parents.length ? t.parents[j]! : -1; // padding: roots, each seeing only itself
        });
        const rows = Int32Array.from(chunk.flatMap((t, i) => t.wanted.map((w) => i * T + w)));
        const flat = forwardRows(model, tokens, chunk.length, T, rows, runner, false, parents);
        let r = 0;
        for (const t of chunk) out.push(t.wanted.map(() => logSoftmax(flat.subarray(r * V, ++r * V))));
    }
    return out;
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
 * The rows at chosen positions of each sequence, `batch` sequences per forward pass: `visit(s, k, row)` gets
 * sequence s's k-th position's logits, or with `softmax` its probabilities computed by ggml (a view into the
 * batch's output, valid during the call).
 */
function forEachRow(
    model: Model,
    seqs: ArrayLike<number>[],
    positions: number[][],
    batch: number,
    runner: GraphRunner,
    softmax: boolean,
    visit: (s: number, k: number, row: Float32Array) => void,
    onBatch?: (done: number, total: number) => void,
): void {
    const V = model.config.vocabSize;
    for (let s0 = 0; s0 < seqs.length; s0 += batch) {
        const chunk = seqs.slice(s0, s0 + batch);
        const { tokens, seqLen } = padBatch(chunk);
        const rows = Int32Array.from(chunk.flatMap((_, i) => positions[s0 + i]!.map((p) => i * seqLen + p)));
        const flat = forwardRows(model, tokens, chunk.length, seqLen, rows, runner, softmax);
        let r = 0;
        for (let i = 0; i < chunk.length; i++) {
            for (let k = 0; k < positions[s0 + i]!.length; k++, r++) visit(s0 + i, k, flat.subarray(r * V, (r + 1) * V));
        }
        onBatch?.(Math.min(seqs.length, s0 + batch), seqs.length);
    }
}

/** forEachRow with each row's log-softmax (float64). */
function forEachPosition(
    model: Model,
    seqs: ArrayLike<number>[],
    positions: number[][],
    batch: number,
    runner: GraphRunner,
    visit: (s: number, k: number, lp: Float64Array) => void,
    onBatch?: (done: number, total: number) => void,
): void {
    forEachRow(model, seqs, positions, batch, runner, false, (s, k, row) => visit(s, k, logSoftmax(row)), onBatch);
}

/**
 * Next-token probability distributions at chosen positions of each sequence ([sequence][k] = softmax of the
 * logits after tokens[0..positions[k]]), computed `batch` sequences per forward pass. For soft-label
 * distillation: a teacher's full distributions along a completion.
 */
export function positionProbs(
    model: Model,
    seqs: ArrayLike<number>[],
    positions: number[][],
    batch = 16,
    runner = new GraphRunner(model.weights.g),
): Float32Array[] {
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
    const out: SparseSoftTargets[] = [];
    // Tokens are binned by their probability's binary exponent below the largest's (one bin per factor of 2,
    // read from the float's bits); bins are taken from the top until they hold the mass, and only the last
    // bin's tokens are sorted: O(V) per position, no exp or log in JS (ggml computes the softmax).
    const NBINS = 160;
    const binMass = new Float64Array(NBINS + 1);
    const binCount = new Int32Array(NBINS + 1);
    const binOf = new Uint8Array(V);
    let ids: Int32Array = new Int32Array(1 << 16);
    let probs: Float32Array = new Float32Array(1 << 16);
    let offsets = new Int32Array(1);
    let n = 0;
    forEachRow(model, seqs, positions, batch, runner, true, (s, k, p) => {
        if (k === 0) {
            offsets = new Int32Array(positions[s]!.length + 1);
            n = 0;
        }
        const bits = new Int32Array(p.buffer, p.byteOffset, V);
        let maxExp = 0;
        for (let v = 0; v < V; v++) maxExp = Math.max(maxExp, (bits[v]! >>> 23) & 0xff);
        binMass.fill(0);
        binCount.fill(0);
        for (let v = 0; v < V; v++) {
            const b = Math.min(NBINS, maxExp - ((bits[v]! >>> 23) & 0xff));
            binOf[v] = b;
            binMass[b] += p[v]!;
            binCount[b]++;
        }
        let acc = 0;
        let kept = 0;
        let last = 0;
        while (last <= NBINS && acc + binMass[last]! < opts.mass && kept + binCount[last]! < maxK) {
            acc += binMass[last]!;
            kept += binCount[last]!;
            last++;
        }
        if (ids.length < n + V) {
            ids = growInt(ids, n + V);
            probs = growFloat(probs, n + V);
        }
        const start = n;
        const edge: number[] = [];
        for (let v = 0; v < V; v++) {
            if (!(p[v]! > 0)) continue;
            if (binOf[v]! < last) ids[n++] = v;
            else if (binOf[v] === last) edge.push(v);
        }
        edge.sort((x, y) => p[y]! - p[x]! || x - y);
        for (const v of edge) {
            if (acc >= opts.mass || n - start >= maxK) break;
            ids[n++] = v;
            acc += p[v]!;
        }
        let total = 0;
        for (let j = start; j < n; j++) total += p[ids[j]!]!;
        for (let j = start; j < n; j++) probs[j] = p[ids[j]!]! / total;
        offsets[k + 1] = n;
        if (k === positions[s]!.length - 1) out[s] = { offsets, ids: ids.slice(0, n), probs: probs.slice(0, n) };
    });
    // A sequence with no positions gets an empty set.
    for (let s = 0; s < seqs.length; s++) out[s] ??= { offsets: new Int32Array(1), ids: new Int32Array(0), probs: new Float32Array(0) };
    return out;
}

function growInt(a: Int32Array, n: number): Int32Array {
    const b = new Int32Array(Math.max(n, a.length * 2));
    b.set(a);
    return b;
}

function growFloat(a: Float32Array, n: number): Float32Array {
    const b = new Float32Array(Math.max(n, a.length * 2));
    b.set(a);
    return b;
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
