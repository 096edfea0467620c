/**
 * Batched decoding on the engine: many sequences at once, each in its own slot of a KV cache held on the
 * backend, one graph per step for all of them.
 *
 *   prefill(rows)   the prompts of some slots in one forward pass (self-attention within each prompt, as in
 *                   training), their keys and values written into the cache, the next-token distribution after
 *                   each prompt returned
 *   step(tokens)    one new token for each of the first n slots: its keys and values appended to the slot's
 *                   cache, attention over the slot's cache, the next-token distributions returned
 *
 * The cache of layer l holds keys as [hd, Hkv, S, slots] and values transposed, as [S, hd, Hkv, slots] (the
 * layout llama.cpp uses without flash attention), so that both attention matmuls read them in place; new
 * entries are scattered into it with ggml_set_rows. A slot's token at position p sits in cache row p.
 *
 * What a slot computes does not depend on the other slots: every matmul column is its own dot product, and
 * attention spans a key length rounded up to a multiple of KEY_ALIGN (masked keys add exact zeros).
 */
import type { Tensor } from "./ggml.ts";
import { GraphRunner, readF32, type GraphBuilder } from "./graph.ts";
import { TensorStore } from "./store.ts";
import { attentionScale, headDim, isSlidingLayer } from "./model-config.ts";
import type { Model } from "./model.ts";

/** Attention key lengths in decoding are rounded up to this (a multiple of every SIMD step ggml uses). */
export const KEY_ALIGN = 64;
/** Prompts are padded to a multiple of this and prefilled beside prompts of the same padded length only. */
export const PROMPT_ALIGN = 8;

/**
 * ggml multiplies a matrix by a single column with another kernel (a matrix-vector product) than by several,
 * and the two round differently in the last bit: every product here has at least two columns, so that a row
 * decoded alone gets exactly the numbers it gets in a batch.
 */
const MIN_COLUMNS = 2;

const roundUp = (n: number, k: number) => Math.ceil(n / k) * k;

export interface DecoderOptions {
    /** Sequences decoded together (cache slots). */
    slots: number;
    /** Longest sequence a slot holds (prompt + completion); rounded up to KEY_ALIGN, at most the model's context. */
    maxLength: number;
}

/** What a decoding call returns: one next-token distribution (softmax at `temperature`) per row, [V x rows], and each row's most probable token. */
export interface NextTokens {
    probs: Float32Array;
    vocab: number;
    top: Int32Array;
}

export class Decoder {
    readonly slots: number;
    /** Work done so far: prefill graphs and their (padded) tokens, decoding steps and their columns, milliseconds in each. */
    readonly stats = { prefills: 0, prefillTokens: 0, prefillMs: 0, steps: 0, stepColumns: 0, stepMs: 0 };
    /** Cache rows per slot. */
    readonly slotLength: number;
    private readonly cache: TensorStore;
    private readonly runner: GraphRunner;

    constructor(
        readonly model: Model,
        opts: DecoderOptions,
    ) {
        const c = model.config;
        if (!(Number.isInteger(opts.slots) && opts.slots > 0)) throw new Error(`decoder: slots must be a positive integer, got ${opts.slots}`);
        const S = Math.min(roundUp(opts.maxLength, KEY_ALIGN), roundUp(c.contextLength, KEY_ALIGN));
        if (opts.maxLength > c.contextLength) {
            throw new Error(`decoder: sequences of up to ${opts.maxLength} tokens do not fit the model's context of ${c.contextLength}`);
        }
        // One more slot than asked when one is asked: a step always decodes at least MIN_COLUMNS columns.
        this.slots = Math.max(opts.slots, MIN_COLUMNS);
        this.slotLength = S;
        const C = headDim(c) * c.nKvHeads;
        const specs = [];
        for (let l = 0; l < c.nLayers; l++) specs.push({ name: `k.${l}`, ne: [C, S * this.slots] }, { name: `v.${l}`, ne: [S * C * this.slots] });
        // Zeroed by the store: masked cache rows are multiplied by exact zeros, never by NaN garbage.
        this.cache = new TensorStore(specs, model.weights.g);
        this.runner = new GraphRunner(model.weights.g, 4096);
    }

    /** Bytes of the KV cache. */
    cacheBytes(): number {
        return this.cache.bytes();
    }

    /**
     * Prompts into slots: row j's tokens fill cache rows 0..len-1 of slot `rows[j].slot`. Returns the
     * next-token distribution after each prompt, in the order of `rows`.
     *
     * A prompt is padded to a multiple of PROMPT_ALIGN and prefilled with the prompts of the same padded length
     * only: the length of attention's sums then depends on the prompt alone (ggml's dot products round the
     * elements past the last full SIMD block differently), so its numbers do not depend on its neighbours.
     */
    prefill(rows: { slot: number; tokens: ArrayLike<number> }[], temperature: number): NextTokens {
        const S = this.slotLength;
        for (const r of rows) {
            if (r.slot < 0 || r.slot >= this.slots) throw new Error(`decoder: slot ${r.slot} out of range 0..${this.slots - 1}`);
            if (r.tokens.length < 1 || r.tokens.length > S) throw new Error(`decoder: a prompt of ${r.tokens.length} tokens (slots hold ${S})`);
        }
        const V = this.model.config.vocabSize;
        const probs = new Float32Array(rows.length * V);
        const top = new Int32Array(rows.length);
        const groups = new Map<number, number[]>();
        rows.forEach((r, j) => {
            const T = Math.min(S, roundUp(r.tokens.length, PROMPT_ALIGN));
            groups.set(T, [...(groups.get(T) ?? []), j]);
        });
        for (const [T, members] of groups) {
            const t0 = performance.now();
            const out = this.prefillGroup(
                members.map((j) => rows[j]!),
                T,
                temperature,
            );
            this.stats.prefills++;
            this.stats.prefillTokens += T * members.length;
            this.stats.prefillMs += performance.now() - t0;
            members.forEach((j, k) => {
                probs.set(out.probs.subarray(k * V, (k + 1) * V), j * V);
                top[j] = out.top[k]!;
            });
        }
        return { probs, vocab: V, top };
    }

    /** Prompts padded to T tokens, in one graph. */
    private prefillGroup(rows: { slot: number; tokens: ArrayLike<number> }[], T: number, temperature: number): { probs: Float32Array; top: Int32Array } {
        const c = this.model.config;
        const m = rows.length;
        const S = this.slotLength;
        const tokens = new Int32Array(T * m);
        const pos = new Int32Array(T * m);
        const cacheRows = new Int32Array(T * m);
        rows.forEach((r, j) => {
            tokens.set(Array.from(r.tokens), j * T);
            for (let t = 0; t < T; t++) {
                pos[j * T + t] = t;
                cacheRows[j * T + t] = r.slot * S + t;
            }
        });
        const last = rows.map((r, j) => j * T + r.tokens.length - 1);
        const out = Int32Array.from(last.length < MIN_COLUMNS ? [...last, ...new Array(MIN_COLUMNS - last.length).fill(last[0])] : last);
        const mask = new Float32Array(T * T);
        for (let q = 0; q < T; q++) for (let k = q + 1; k < T; k++) mask[q * T + k] = -Infinity;
        const next = this.run(tokens, pos, cacheRows, out, temperature, (b, graph, l, q, k, v) => {
            const a = b.g.api;
            const hd = headDim(c);
            const maskT = (graph.inputs.mask ??= b.inputF32([T, T], mask, "kq_mask"));
            let useMask = maskT;
            if (isSlidingLayer(c, l) && c.slidingWindow && T > c.slidingWindow) {
                graph.inputs.swa ??= b.inputF32(
                    [T, T],
                    slidingMask(
                        mask,
                        T,
                        T,
                        Int32Array.from({ length: T }, (_, i) => i),
                        c.slidingWindow,
                    ),
                    "kq_mask_swa",
                );
                useMask = graph.inputs.swa;
            }
            return this.model.graph().attention(b, q, k, a.ggml_reshape_4d(b.ctx, v, hd, c.nKvHeads, T, m), useMask, T, m);
        });
        return { probs: next.probs.subarray(0, m * next.vocab), top: next.top.subarray(0, m) };
    }

    /**
     * One token for each of slots 0..n-1 (`tokens[j]` at position `pos[j]` of slot j; a slot with nothing to do
     * can be given any token at position 0). Returns the next-token distribution of every slot.
     */
    step(tokensIn: Int32Array, posIn: Int32Array, temperature: number): NextTokens {
        const c = this.model.config;
        const S = this.slotLength;
        if (tokensIn.length < 1 || tokensIn.length > this.slots || posIn.length !== tokensIn.length) {
            throw new Error(`decoder: step over ${tokensIn.length} slots (${posIn.length} positions) of ${this.slots}`);
        }
        const t0 = performance.now();
        const n = Math.max(tokensIn.length, MIN_COLUMNS);
        const tokens = new Int32Array(n);
        const pos = new Int32Array(n);
        tokens.set(tokensIn);
        pos.set(posIn);
        let maxPos = 0;
        for (const p of pos) {
            if (p < 0 || p >= S) throw new Error(`decoder: position ${p} outside a slot of ${S} rows`);
            maxPos = Math.max(maxPos, p);
        }
        const Sk = Math.min(S, roundUp(maxPos + 1, KEY_ALIGN));
        const cacheRows = Int32Array.from(pos, (p, j) => j * S + p);
        const mask = new Float32Array(Sk * n);
        for (let j = 0; j < n; j++) for (let k = pos[j]! + 1; k < Sk; k++) mask[j * Sk + k] = -Infinity;
        const rows = Int32Array.from({ length: n }, (_, j) => j);
        const next = this.run(tokens, pos, cacheRows, rows, temperature, (b, graph, l, q, _k, _v, written) => {
            const a = b.g.api;
            const ctx = b.ctx;
            const hd = headDim(c);
            const H = c.nHeads;
            const Hkv = c.nKvHeads;
            const C = hd * Hkv;
            let maskT = (graph.inputs.mask ??= b.inputF32([Sk, 1, 1, n], mask, "kq_mask"));
            if (isSlidingLayer(c, l) && c.slidingWindow && maxPos >= c.slidingWindow) {
                maskT = graph.inputs.swa ??= b.inputF32([Sk, 1, 1, n], slidingMask(mask, Sk, n, pos, c.slidingWindow), "kq_mask_swa");
            }
            const f = 4; // bytes per f32
            const kView = a.ggml_view_4d(ctx, written.k, hd, Sk, Hkv, n, C * f, hd * f, S * C * f, 0); // [hd, Sk, Hkv, n]
            const vView = a.ggml_view_4d(ctx, written.v, Sk, hd, Hkv, n, S * f, hd * S * f, C * S * f, 0); // [Sk, hd, Hkv, n]
            const q4 = a.ggml_permute(ctx, a.ggml_reshape_4d(ctx, q, hd, H, 1, n), 0, 2, 1, 3); // [hd, 1, H, n]
            const kq = a.ggml_mul_mat(ctx, kView, q4); // [Sk, 1, H, n]; query head h reads kv head h / (H/Hkv)
            const probs = a.ggml_soft_max_ext(ctx, kq, maskT, attentionScale(c), 0);
            const kqv = a.ggml_mul_mat(ctx, vView, probs); // [hd, 1, H, n]
            return a.ggml_reshape_2d(ctx, kqv, hd * H, n);
        });
        this.stats.steps++;
        this.stats.stepColumns += n;
        this.stats.stepMs += performance.now() - t0;
        return tokensIn.length === n
            ? next
            : { vocab: next.vocab, probs: next.probs.subarray(0, tokensIn.length * next.vocab), top: next.top.subarray(0, tokensIn.length) };
    }

    /**
     * Gives slot `to` the cache of slot `from` (a prompt prefilled once, sampled in several slots): the same
     * numbers a prefill of the same prompt would write.
     */
    copySlot(from: number, to: number): void {
        const c = this.model.config;
        const S = this.slotLength;
        const C = headDim(c) * c.nKvHeads;
        for (const s of [from, to]) if (s < 0 || s >= this.slots) throw new Error(`decoder: slot ${s} out of range 0..${this.slots - 1}`);
        for (let l = 0; l < c.nLayers; l++) {
            this.cache.copyWithin(`k.${l}`, to * S * C, from * S * C, S * C);
            this.cache.copyWithin(`v.${l}`, to * S * C, from * S * C, S * C);
        }
    }

    free(): void {
        this.runner.free();
        this.cache.free();
    }

    /**
     * Tokens [N] at positions [N] whose keys and values go to cache rows `cacheRows` [N] (slot * S + position);
     * `attend` computes each layer's attention (after the write, which it may read through `written`).
     * Returns the distributions at the tokens `outRows`.
     */
    private run(
        tokens: Int32Array,
        pos: Int32Array,
        cacheRows: Int32Array,
        outRows: Int32Array,
        temperature: number,
        attend: (
            b: GraphBuilder,
            graph: { inputs: Record<string, Tensor> },
            l: number,
            q: Tensor,
            k: Tensor,
            v: Tensor,
            written: { k: Tensor; v: Tensor },
        ) => Tensor,
    ): NextTokens {
        const c = this.model.config;
        const S = this.slotLength;
        const hd = headDim(c);
        const C = hd * c.nKvHeads;
        const N = tokens.length;
        // Values are stored transposed: element (token j, channel ch) goes to ((slot * C + ch) * S + position).
        const vRows = new Int32Array(N * C);
        for (let j = 0; j < N; j++) {
            const slot = Math.floor(cacheRows[j]! / S);
            const p = cacheRows[j]! - slot * S;
            for (let ch = 0; ch < C; ch++) vRows[j * C + ch] = (slot * C + ch) * S + p;
        }
        const V = c.vocabSize;
        const probs: { probs: Float32Array; top: Int32Array } = this.runner.run(
            (b, newGraph) => {
                const a = b.g.api;
                const ctx = b.ctx;
                const tok = b.inputI32([N], tokens, "tokens");
                const posT = b.inputI32([N], pos, "pos");
                const kIdx = b.inputI32([N], cacheRows, "k_rows");
                const vIdx = b.inputI32([N * C], vRows, "v_rows");
                const state = { inputs: {} as Record<string, Tensor> };
                const writes: Tensor[] = [];
                const graphModel = this.model.graph();
                const x = graphModel.blocks(b, tok, posT, (l, q, k, v) => {
                    const kw = a.ggml_set_rows(ctx, this.cache.tensor(`k.${l}`), a.ggml_reshape_2d(ctx, k, C, N), kIdx);
                    const vFlat = this.cache.tensor(`v.${l}`);
                    const vw = a.ggml_set_rows(ctx, a.ggml_reshape_2d(ctx, vFlat, 1, S * C * this.slots), a.ggml_reshape_2d(ctx, v, 1, C * N), vIdx);
                    writes.push(kw, vw);
                    return attend(b, state, l, q, k, v, { k: kw, v: vw });
                });
                const logits = graphModel.head(b, x, b.inputI32([outRows.length], outRows, "rows"));
                // temperature 0 (greedy) keeps the distribution at temperature 1: the stored probabilities stay informative.
                const out = a.ggml_soft_max_ext(ctx, logits, null, temperature > 0 ? 1 / temperature : 1, 0);
                const top = a.ggml_argmax(ctx, out); // the first maximum, as the samplers break ties
                a.ggml_set_output(out);
                a.ggml_set_output(top);
                const graph = newGraph(false);
                for (const w of writes) a.ggml_build_forward_expand(graph, w);
                a.ggml_build_forward_expand(graph, out);
                a.ggml_build_forward_expand(graph, top);
                return { graph, out: { out, top } };
            },
            ({ out, top }, b) => {
                const t = new Int32Array(outRows.length);
                b.g.api.ggml_backend_tensor_get(top, t, 0, t.byteLength);
                return { probs: readF32(b.g, out), top: t };
            },
        );
        return { ...probs, vocab: V };
    }
}

/** The causal mask [k, q] of `nq` queries at positions `pos`, also hiding keys `window` or more positions back. */
function slidingMask(causal: Float32Array, nk: number, nq: number, pos: ArrayLike<number>, window: number): Float32Array {
    const m = Float32Array.from(causal);
    for (let q = 0; q < nq; q++) for (let k = 0; k <= pos[q]! - window && k < nk; k++) m[q * nk + k] = -Infinity;
    return m;
}
