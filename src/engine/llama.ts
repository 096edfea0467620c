/**
 * The Llama-family model as a ggml graph: token embedding, RMSNorm, RoPE, causal grouped-query attention,
 * SwiGLU MLP, output head; `qwen2` adds q/k/v biases and uses NeoX-style RoPE; `gemma3` scales the embedding
 * by sqrt(dModel), RMS-normalises q and k per head, normalises each sublayer's output before the residual add,
 * gates its MLP with GELU (tanh form), and alternates sliding-window and global attention layers with their
 * own RoPE bases. Tensor names and layouts are GGUF's, and every op mirrors llama.cpp's own graph so that
 * logits agree with its inference.
 *
 * Sequences in a batch are laid out [T, B] (B sequences of T tokens, right-padded); the loss is computed only
 * on the positions listed in `rows`, so padding and prompt tokens cost nothing in the output head.
 */
import { GGML_ROPE_TYPE_NEOX, GGML_ROPE_TYPE_NORMAL, type Tensor } from "./ggml.ts";
import type { GraphBuilder } from "./graph.ts";
import type { TensorStore } from "./store.ts";
import { attentionScale, headDim, isSlidingLayer, LORA_TARGETS, type LoraTarget, type ModelConfig } from "./model-config.ts";

export interface LoraSpec {
    rank: number;
    alpha: number;
    targets: LoraTarget[];
}

/** Names of the LoRA A and B tensors for one adapted weight, as llama.cpp's adapter loader expects them. */
export function loraNames(weight: string): { a: string; b: string } {
    return { a: `${weight}.lora_a`, b: `${weight}.lora_b` };
}

/** The weights a LoRA spec adapts, with A [in, r] and B [r, out] shapes (ggml order). */
export function loraShapes(c: ModelConfig, spec: LoraSpec, weightShapes: Map<string, number[]>): Map<string, number[]> {
    const m = new Map<string, number[]>();
    for (let l = 0; l < c.nLayers; l++) {
        for (const t of spec.targets) {
            const w = `blk.${l}.${LORA_TARGETS[t]}.weight`;
            const ne = weightShapes.get(w);
            if (!ne) throw new Error(`LoRA target ${t}: the model has no tensor ${w}`);
            const { a, b } = loraNames(w);
            m.set(a, [ne[0], spec.rank]);
            m.set(b, [spec.rank, ne[1]]);
        }
    }
    return m;
}

export interface ForwardInput {
    /** Token ids, B sequences of T tokens each, flattened sequence-major (index = b*T + t). */
    tokens: Int32Array;
    nSeq: number;
    seqLen: number;
    /** Flattened positions whose next-token logits are wanted, in output order. */
    rows: Int32Array;
    /**
     * Token trees instead of plain sequences: parents[b*T + t] is the index (within sequence b) of the token
     * that token t follows, -1 for a root. A token sees its ancestors and itself only, at RoPE position = its
     * depth, so one sequence holds a prompt and many continuations of it (all the spellings of all items).
     */
    parents?: Int32Array;
}

export class LlamaGraph {
    constructor(
        readonly config: ModelConfig,
        readonly weights: TensorStore,
        readonly lora?: { spec: LoraSpec; store: TensorStore },
    ) {}

    /** Logits [vocab, rows.length] for the requested positions. */
    forward(b: GraphBuilder, inp: ForwardInput): Tensor {
        const c = this.config;
        const a = b.g.api;
        const T = inp.seqLen;
        const B = inp.nSeq;
        const hd = headDim(c);
        const { tokens, pos, mask, swaMask } = sequenceInputs(b, c, inp);
        const x = this.blocks(b, tokens, pos, (l, q, k, v) =>
            this.attention(b, q, k, a.ggml_reshape_4d(b.ctx, v, hd, c.nKvHeads, T, B), isSlidingLayer(c, l) && swaMask ? swaMask : mask, T, B),
        );
        return this.head(b, x, b.inputI32([inp.rows.length], inp.rows, "rows"));
    }

    /**
     * The embedding and every transformer block over N tokens (ids `tokens` [N] at RoPE positions `pos` [N]);
     * `attend(layer, q, k, v)` is the layer's attention, given q [hd, H, N] and k [hd, Hkv, N] after RoPE and
     * v [hd*Hkv, N], returning [hd*H, N]: self-attention within the batch in training, a KV cache in decoding.
     * Returns the hidden states [d, N] before the final norm.
     */
    blocks(b: GraphBuilder, tokens: Tensor, pos: Tensor, attend: (layer: number, q: Tensor, k: Tensor, v: Tensor) => Tensor): Tensor {
        const c = this.config;
        const a = b.g.api;
        const ctx = b.ctx;
        const W = (n: string) => this.weights.tensor(n);
        const hd = headDim(c);
        const gemma = c.arch === "gemma3";
        const norm = (x: Tensor, w: string) => a.ggml_mul(ctx, a.ggml_rms_norm(ctx, x, c.rmsEps), W(w));
        const rope = ropeOp(b, c, pos);
        const mm = (w: string, x: Tensor) => this.linear(b, w, x);

        let x = a.ggml_get_rows(ctx, W("token_embd.weight"), tokens); // [d, N]
        const N = b.g.shape(x)[1]!;
        if (gemma) x = a.ggml_scale(ctx, x, embeddingScale(c));
        for (let l = 0; l < c.nLayers; l++) {
            const p = `blk.${l}.`;
            const h = norm(x, p + "attn_norm.weight");
            let q = a.ggml_reshape_3d(ctx, mm(p + "attn_q", h), hd, c.nHeads, N);
            let k = a.ggml_reshape_3d(ctx, mm(p + "attn_k", h), hd, c.nKvHeads, N);
            if (gemma) {
                q = norm(q, p + "attn_q_norm.weight");
                k = norm(k, p + "attn_k_norm.weight");
            }
            q = rope(q, l);
            k = rope(k, l);
            const attn = attend(l, q, k, mm(p + "attn_v", h)); // [hd*nHeads, N]
            let o = mm(p + "attn_output", attn);
            if (gemma) o = norm(o, p + "post_attention_norm.weight");
            x = a.ggml_add(ctx, x, o);
            const h2 = norm(x, p + "ffn_norm.weight");
            const gate = mm(p + "ffn_gate", h2);
            const act = gemma ? a.ggml_mul(ctx, geluTanh(b, gate).y, mm(p + "ffn_up", h2)) : a.ggml_swiglu_split(ctx, gate, mm(p + "ffn_up", h2));
            let f = mm(p + "ffn_down", act);
            if (gemma) f = norm(f, p + "post_ffw_norm.weight");
            x = a.ggml_add(ctx, x, f);
        }
        return x;
    }

    /** The final norm and the output head at the hidden states' columns `rows` (an i32 tensor): logits [V, rows]. */
    head(b: GraphBuilder, x: Tensor, rows: Tensor): Tensor {
        const a = b.g.api;
        const c = this.config;
        const final = a.ggml_mul(b.ctx, a.ggml_rms_norm(b.ctx, x, c.rmsEps), this.weights.tensor("output_norm.weight"));
        const selected = a.ggml_get_rows(b.ctx, final, rows); // [d, n]
        const head = c.tiedEmbeddings ? this.weights.tensor("token_embd.weight") : this.weights.tensor("output.weight");
        return a.ggml_mul_mat(b.ctx, head, selected); // [V, n]
    }

    /** y = W x (+ bias) (+ LoRA: (alpha/r) * B A x), as llama.cpp's build_lora_mm. */
    private linear(b: GraphBuilder, base: string, x: Tensor): Tensor {
        const a = b.g.api;
        const w = `${base}.weight`;
        let y = a.ggml_mul_mat(b.ctx, this.weights.tensor(w), x);
        if (this.lora) {
            const names = loraNames(w);
            if (this.lora.store.has(names.a)) {
                const ax = a.ggml_mul_mat(b.ctx, this.lora.store.tensor(names.a), x);
                const bax = a.ggml_mul_mat(b.ctx, this.lora.store.tensor(names.b), ax);
                y = a.ggml_add(b.ctx, y, a.ggml_scale(b.ctx, bax, this.lora.spec.alpha / this.lora.spec.rank));
            }
        }
        const bias = `${base}.bias`;
        if (this.weights.has(bias)) y = a.ggml_add(b.ctx, y, this.weights.tensor(bias));
        return y;
    }

    /**
     * Causal softmax attention over q [hd, H, N], k [hd, Hkv, N], v [hd, Hkv, T, B]; returns [hd*H, N].
     * K and V heads are repeated for grouped-query attention explicitly (query head h uses kv head h / (H/Hkv),
     * as llama.cpp's broadcasting does), because ggml's matmul backward cannot broadcast over a batch dim.
     */
    attention(b: GraphBuilder, q: Tensor, k: Tensor, v: Tensor, mask: Tensor, T: number, B: number): Tensor {
        const a = b.g.api;
        const ctx = b.ctx;
        const c = this.config;
        const hd = headDim(c);
        const H = c.nHeads;
        const Hkv = c.nKvHeads;
        const r = H / Hkv;

        // Contiguous q makes the QK^T matmul and its backward ~20% faster on CPU (measured) than a permuted view.
        const q4 = a.ggml_cont(ctx, a.ggml_permute(ctx, a.ggml_reshape_4d(ctx, q, hd, H, T, B), 0, 2, 1, 3)); // [hd, T, H, B]
        let k4 = a.ggml_cont(ctx, a.ggml_permute(ctx, a.ggml_reshape_4d(ctx, k, hd, Hkv, T, B), 0, 2, 1, 3)); // [hd, T, Hkv, B]
        let vt = a.ggml_cont(ctx, a.ggml_permute(ctx, v, 1, 2, 0, 3)); // [T, hd, Hkv, B]
        if (r > 1) {
            k4 = repeatHeads(b, k4, hd * T, r, Hkv, B, [hd, T]);
            vt = repeatHeads(b, vt, T * hd, r, Hkv, B, [T, hd]);
        }
        const kq = a.ggml_mul_mat(ctx, k4, q4); // [Tk, Tq, H, B]
        const probs = a.ggml_soft_max_ext(ctx, kq, mask, attentionScale(c), 0);
        const kqv = a.ggml_mul_mat(ctx, vt, probs); // [hd, Tq, H, B]
        const merged = a.ggml_cont(ctx, a.ggml_permute(ctx, kqv, 0, 2, 1, 3)); // [hd, H, T, B]
        return a.ggml_reshape_2d(ctx, merged, hd * H, T * B);
    }
}

/**
 * The per-batch inputs of the graph: token ids, positions (restarting at 0 for every sequence; rope reads them
 * along the tensor's dim 2, the N tokens), the causal mask, and for sliding-window layers a mask that also
 * hides keys `slidingWindow` or more positions back (llama.cpp's LLAMA_SWA_TYPE_STANDARD), when T needs one.
 */
export function sequenceInputs(b: GraphBuilder, c: ModelConfig, inp: { tokens: Int32Array; nSeq: number; seqLen: number; parents?: Int32Array }) {
    const T = inp.seqLen;
    const B = inp.nSeq;
    const N = T * B;
    if (inp.tokens.length !== N) throw new Error(`forward: ${inp.tokens.length} tokens for ${inp.nSeq} sequences of ${T}`);
    // A token tree's positions are depths: its paths, not its size, must fit the context.
    if (T > c.contextLength && !inp.parents) throw new Error(`forward: sequence length ${T} exceeds the model's context length ${c.contextLength}`);
    const tokens = b.inputI32([N], inp.tokens, "tokens");
    const w = c.slidingWindow;
    if (inp.parents) {
        const { pos: posData, mask: maskData, swa } = treeMasks(inp.parents, T, B, w);
        const deepest = posData.reduce((a, x) => Math.max(a, x), 0);
        if (deepest >= c.contextLength)
            throw new Error(`forward: a token tree path of ${deepest + 1} tokens exceeds the model's context length ${c.contextLength}`);
        const pos = b.inputI32([N], posData, "pos");
        const mask = b.inputF32([T, T, 1, B], maskData, "kq_mask");
        const swaMask = swa && b.inputF32([T, T, 1, B], swa, "kq_mask_swa");
        return { tokens, pos, mask, swaMask };
    }
    const posData = new Int32Array(N);
    for (let i = 0; i < N; i++) posData[i] = i % T;
    const pos = b.inputI32([N], posData, "pos");
    const maskData = new Float32Array(T * T);
    for (let q = 0; q < T; q++) for (let k = q + 1; k < T; k++) maskData[q * T + k] = -Infinity;
    const mask = b.inputF32([T, T], maskData, "kq_mask");
    let swaMask: Tensor | undefined;
    if (w && T > w) {
        const swa = Float32Array.from(maskData);
        for (let q = 0; q < T; q++) for (let k = 0; k <= q - w; k++) swa[q * T + k] = -Infinity;
        swaMask = b.inputF32([T, T], swa, "kq_mask_swa");
    }
    return { tokens, pos, mask, swaMask };
}

/**
 * Positions and masks [T, T, 1, B] of token trees (ForwardInput.parents): a query sees its ancestors and itself;
 * with a sliding window, not those `window` or more positions above it.
 */
export function treeMasks(parents: Int32Array, T: number, B: number, window?: number): { pos: Int32Array; mask: Float32Array; swa: Float32Array | undefined } {
    const pos = new Int32Array(T * B);
    const mask = new Float32Array(T * T * B).fill(-Infinity);
    const swa = window ? new Float32Array(T * T * B).fill(-Infinity) : undefined;
    for (let s = 0; s < B; s++) {
        for (let t = 0; t < T; t++) {
            const p = parents[s * T + t]!;
            if (p >= t) throw new Error(`forward: token ${t} of sequence ${s} follows token ${p}, which is not before it`);
            pos[s * T + t] = p < 0 ? 0 : pos[s * T + p]! + 1;
            for (let k = t; k >= 0; k = parents[s * T + k]!) {
                mask[(s * T + t) * T + k] = 0;
                if (swa && pos[s * T + t]! - pos[s * T + k]! < window!) swa[(s * T + t) * T + k] = 0;
            }
        }
    }
    return { pos, mask, swa };
}

/** Gemma scales token embeddings by sqrt(dModel) (f32, as llama.cpp's sqrtf). */
export function embeddingScale(c: ModelConfig): number {
    return Math.fround(Math.sqrt(c.dModel));
}

const GELU_C = Math.sqrt(2 / Math.PI);
const GELU_A = 0.044715;

/**
 * GELU in its tanh form, 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), from exact ops; returns the tanh too
 * (the backward reuses it). llama.cpp's CPU GELU reads an f16 table instead: the two differ by about 1e-3.
 */
export function geluTanh(b: GraphBuilder, x: Tensor): { y: Tensor; t: Tensor } {
    const a = b.g.api;
    const ctx = b.ctx;
    const inner = a.ggml_scale(ctx, a.ggml_add(ctx, x, a.ggml_scale(ctx, a.ggml_mul(ctx, a.ggml_sqr(ctx, x), x), GELU_A)), GELU_C);
    const t = a.ggml_tanh(ctx, inner);
    return { y: a.ggml_scale(ctx, a.ggml_add(ctx, x, a.ggml_mul(ctx, x, t)), 0.5), t };
}

/** d geluTanh(x) / dx = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2), t its tanh. */
export function geluTanhGrad(b: GraphBuilder, x: Tensor, t: Tensor): Tensor {
    const a = b.g.api;
    const ctx = b.ctx;
    const first = a.ggml_scale_bias(ctx, t, 0.5, 0.5);
    const sech2 = a.ggml_scale_bias(ctx, a.ggml_sqr(ctx, t), -1, 1);
    const poly = a.ggml_scale_bias(ctx, a.ggml_sqr(ctx, x), 3 * GELU_A * GELU_C, GELU_C);
    return a.ggml_add(ctx, first, a.ggml_scale(ctx, a.ggml_mul(ctx, a.ggml_mul(ctx, x, sech2), poly), 0.5));
}

/**
 * RoPE as llama.cpp applies it for the architecture (NeoX-style for qwen2 and gemma3, Llama 3's frequency
 * factors, gemma3's local base on sliding-window layers), forward or backward; `layer` picks the base.
 */
export function ropeOp(b: GraphBuilder, c: ModelConfig, pos: Tensor, backward = false): (x: Tensor, layer: number) => Tensor {
    const a = b.g.api;
    const mode = c.arch === "llama" ? GGML_ROPE_TYPE_NORMAL : GGML_ROPE_TYPE_NEOX;
    const f = backward ? a.ggml_rope_ext_back : a.ggml_rope_ext;
    // Llama 3's frequency factors: ggml divides each pair's frequency by its factor, as llama.cpp passes rope_freqs.
    const factors = c.ropeFreqs ? b.inputF32([c.ropeFreqs.length], Float32Array.from(c.ropeFreqs), "rope_freqs") : null;
    return (x, layer) => {
        const theta = isSlidingLayer(c, layer) ? (c.ropeThetaSwa ?? c.ropeTheta) : c.ropeTheta;
        return f(b.ctx, x, pos, factors, headDim(c), mode, c.contextLength, theta, 1, 0, 1, 0, 0);
    };
}

/** [x0, x1, Hkv, B] -> [x0, x1, r*Hkv, B] where output head h = j + r*kv reads kv head floor(h / r). */
function repeatHeads(b: GraphBuilder, t: Tensor, inner: number, r: number, Hkv: number, B: number, dims: [number, number]): Tensor {
    const a = b.g.api;
    const ctx = b.ctx;
    const flat = a.ggml_reshape_4d(ctx, t, inner, 1, Hkv, B);
    const rep = a.ggml_repeat_4d(ctx, flat, inner, r, Hkv, B); // [inner, r, Hkv, B]: out (j, kv) = in (kv)
    return a.ggml_reshape_4d(ctx, rep, dims[0], dims[1], r * Hkv, B);
}
