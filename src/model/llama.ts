/**
 * The Llama-family model as a ggml graph: token embedding, RMSNorm, RoPE, causal grouped-query attention,
 * SwiGLU MLP, output head; `qwen2` adds q/k/v biases and uses NeoX-style RoPE. Tensor names and layouts are
 * GGUF's, and every op mirrors llama.cpp's own graph so that logits agree with its inference.
 *
 * Sequences in a batch are laid out [T, B] (B sequences of T tokens, right-padded); the loss is computed only
 * on the positions listed in `rows`, so padding and prompt tokens cost nothing in the output head.
 */
import { GGML_ROPE_TYPE_NEOX, GGML_ROPE_TYPE_NORMAL, type Tensor } from "../engine/ggml.ts";
import type { GraphBuilder } from "../engine/graph.ts";
import type { TensorStore } from "../engine/store.ts";
import { headDim, LORA_TARGETS, type LoraTarget, type ModelConfig } from "./config.ts";

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
        const ctx = b.ctx;
        const W = (n: string) => this.weights.tensor(n);
        const T = inp.seqLen;
        const B = inp.nSeq;
        const N = T * B;
        const hd = headDim(c);

        const { tokens, pos, mask } = sequenceInputs(b, c, inp);
        const norm = (x: Tensor, w: string) => a.ggml_mul(ctx, a.ggml_rms_norm(ctx, x, c.rmsEps), W(w));
        const rope = ropeOp(b, c, pos);
        const mm = (w: string, x: Tensor) => this.linear(b, w, x);

        let x = a.ggml_get_rows(ctx, W("token_embd.weight"), tokens); // [d, N]
        for (let l = 0; l < c.nLayers; l++) {
            const p = `blk.${l}.`;
            const h = norm(x, p + "attn_norm.weight");
            const q = rope(a.ggml_reshape_3d(ctx, mm(p + "attn_q", h), hd, c.nHeads, N));
            const k = rope(a.ggml_reshape_3d(ctx, mm(p + "attn_k", h), hd, c.nKvHeads, N));
            const v = a.ggml_reshape_4d(ctx, mm(p + "attn_v", h), hd, c.nKvHeads, T, B);
            const attn = this.attention(b, q, k, v, mask, T, B); // [hd*nHeads, N]
            x = a.ggml_add(ctx, x, mm(p + "attn_output", attn));
            const h2 = norm(x, p + "ffn_norm.weight");
            const act = a.ggml_swiglu_split(ctx, mm(p + "ffn_gate", h2), mm(p + "ffn_up", h2));
            x = a.ggml_add(ctx, x, mm(p + "ffn_down", act));
        }
        const final = norm(x, "output_norm.weight");
        const selected = a.ggml_get_rows(ctx, final, b.inputI32([inp.rows.length], inp.rows, "rows")); // [d, n]
        const head = c.tiedEmbeddings ? W("token_embd.weight") : W("output.weight");
        return a.ggml_mul_mat(ctx, head, selected); // [V, n]
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
    private attention(b: GraphBuilder, q: Tensor, k: Tensor, v: Tensor, mask: Tensor, T: number, B: number): Tensor {
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
        const probs = a.ggml_soft_max_ext(ctx, kq, mask, 1 / Math.sqrt(hd), 0);
        const kqv = a.ggml_mul_mat(ctx, vt, probs); // [hd, Tq, H, B]
        const merged = a.ggml_cont(ctx, a.ggml_permute(ctx, kqv, 0, 2, 1, 3)); // [hd, H, T, B]
        return a.ggml_reshape_2d(ctx, merged, hd * H, T * B);
    }
}

/**
 * The per-batch inputs of the graph: token ids, positions (restarting at 0 for every sequence; rope reads them
 * along the tensor's dim 2, the N tokens) and the causal mask.
 */
export function sequenceInputs(b: GraphBuilder, c: ModelConfig, inp: { tokens: Int32Array; nSeq: number; seqLen: number }) {
    const T = inp.seqLen;
    const N = T * inp.nSeq;
    if (inp.tokens.length !== N) throw new Error(`forward: ${inp.tokens.length} tokens for ${inp.nSeq} sequences of ${T}`);
    if (T > c.contextLength) throw new Error(`forward: sequence length ${T} exceeds the model's context length ${c.contextLength}`);
    const tokens = b.inputI32([N], inp.tokens, "tokens");
    const posData = new Int32Array(N);
    for (let i = 0; i < N; i++) posData[i] = i % T;
    const pos = b.inputI32([N], posData, "pos");
    const maskData = new Float32Array(T * T);
    for (let q = 0; q < T; q++) for (let k = q + 1; k < T; k++) maskData[q * T + k] = -Infinity;
    const mask = b.inputF32([T, T], maskData, "kq_mask");
    return { tokens, pos, mask };
}

/** RoPE as llama.cpp applies it for the architecture (NeoX-style for qwen2, Llama 3's frequency factors), forward or backward. */
export function ropeOp(b: GraphBuilder, c: ModelConfig, pos: Tensor, backward = false): (x: Tensor) => Tensor {
    const a = b.g.api;
    const mode = c.arch === "qwen2" ? GGML_ROPE_TYPE_NEOX : GGML_ROPE_TYPE_NORMAL;
    const f = backward ? a.ggml_rope_ext_back : a.ggml_rope_ext;
    // Llama 3's frequency factors: ggml divides each pair's frequency by its factor, as llama.cpp passes rope_freqs.
    const factors = c.ropeFreqs ? b.inputF32([c.ropeFreqs.length], Float32Array.from(c.ropeFreqs), "rope_freqs") : null;
    return (x) => f(b.ctx, x, pos, factors, headDim(c), mode, c.contextLength, c.ropeTheta, 1, 0, 1, 0, 0);
}

/** [x0, x1, Hkv, B] -> [x0, x1, r*Hkv, B] where output head h = j + r*kv reads kv head floor(h / r). */
function repeatHeads(b: GraphBuilder, t: Tensor, inner: number, r: number, Hkv: number, B: number, dims: [number, number]): Tensor {
    const a = b.g.api;
    const ctx = b.ctx;
    const flat = a.ggml_reshape_4d(ctx, t, inner, 1, Hkv, B);
    const rep = a.ggml_repeat_4d(ctx, flat, inner, r, Hkv, B); // [inner, r, Hkv, B]: out (j, kv) = in (kv)
    return a.ggml_reshape_4d(ctx, rep, dims[0], dims[1], r * Hkv, B);
}
